"""The advisor's formulas against published figures, and its plan against the demo site.

Tolerances: compute within 3 % of the papers' own totals (they round parameters and tokens);
memory exact where the paper gives the arithmetic, 1 % where it prints rounded figures;
GPU-hours within 5 % (the reported hours include restarts and evaluation).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from aifactory_hub.advisor import plan
from aifactory_hub.advisor import training as adv
from aifactory_hub.policy import AccessSettings, ApplicantType, ModeSettings
from aifactory_hub.policy.settings import PUBLISHED
from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import load_site
from aifactory_widgets.advisor.view import cost_rows


def test_gpt3_175b_on_300b_tokens_is_3_1e23_flops():
    # Brown et al. 2020, Table D.1: 3.14e23 FLOPs (3,640 PF-days).
    assert adv.training_flops(175e9, 300e9) == pytest.approx(3.14e23, rel=0.03)


def test_chinchilla_70b_on_1_4t_tokens_is_5_9e23_flops():
    # Hoffmann et al. 2022, Table 3: 5.76e23 FLOPs for Chinchilla.
    assert adv.training_flops(70e9, 1.4e12) == pytest.approx(5.76e23, rel=0.03)
    assert adv.training_flops(70e9, 1.4e12) == pytest.approx(5.9e23, rel=0.01)


def test_7b_mixed_precision_adam_is_16_bytes_per_parameter_plus_activations():
    assert sum(adv.bytes_per_parameter("bf16_mixed", "adamw")) == 16
    run = adv.TrainingRun(parameters=7e9, tokens=1e12, layers=32, hidden=4096, sharding="none")
    memory = adv.memory_per_gpu(run)
    assert memory.state == pytest.approx(112e9)  # 16 x 7e9 bytes, exactly
    # Korthikanti et al. 2022 with FlashAttention: 34 * s * b * h bytes per layer.
    assert memory.activations == 34 * 2048 * 1 * 4096 * 32
    assert memory.total > 112e9
    scores = adv.memory_per_gpu(run.model_copy(update={"flash_attention": False}))
    assert scores.activations > memory.activations  # the 5as/h attention-score term


def test_zero_stages_match_the_zero_paper_figure_1():
    # Rajbhandari et al. 2020, Fig. 1: 7.5B parameters, K = 12, 64 GPUs.
    run = adv.TrainingRun(parameters=7.5e9, tokens=1e9)
    per_gpu = {
        stage: adv.memory_per_gpu(run.model_copy(update={"sharding": stage}), 64).state / 1e9
        for stage in adv.SHARDING
    }
    assert per_gpu["none"] == pytest.approx(120, rel=0.01)
    assert per_gpu["zero1"] == pytest.approx(31.4, rel=0.01)
    assert per_gpu["zero2"] == pytest.approx(16.6, rel=0.01)
    assert per_gpu["zero3"] == pytest.approx(1.9, rel=0.02)


def test_llama2_7b_gpu_hours_at_40_percent_mfu():
    # Touvron et al. 2023, Table 2: 184,320 A100-80GB GPU-hours for 6.7B params, 2T tokens.
    hours = adv.gpu_hours(adv.training_flops(6.74e9, 2e12), 312, 0.4)
    assert hours == pytest.approx(184_320, rel=0.05)
    assert adv.wall_hours(hours, 1024) == pytest.approx(hours / 1024)


def test_the_shape_comes_from_the_parameter_count_when_not_given():
    layers, hidden = adv.TrainingRun(parameters=175e9, tokens=1).shape
    assert hidden == pytest.approx(12288, rel=0.02) and layers == pytest.approx(96, rel=0.03)


def test_checkpointing_keeps_only_each_layers_input():
    run = adv.TrainingRun(parameters=7e9, tokens=1, layers=32, hidden=4096)
    saved = adv.activation_bytes(run.model_copy(update={"checkpointing": True}))
    assert saved == 2 * 2048 * 4096 * 32 + 34 * 2048 * 4096
    assert saved < adv.activation_bytes(run) / 5


def test_minimum_gpus_with_and_without_sharding():
    run = adv.TrainingRun(parameters=7e9, tokens=1e12, layers=32, hidden=4096)
    assert adv.min_gpus(run.model_copy(update={"sharding": "none"}), 80) is None  # 121 GB
    least = adv.min_gpus(run, 80)  # ZeRO-3
    assert least == 2
    assert adv.memory_per_gpu(run, least).total <= 80e9 * adv.USABLE_FRACTION
    assert adv.memory_per_gpu(run, least - 1).total > 80e9 * adv.USABLE_FRACTION
    small = adv.TrainingRun(parameters=125e6, tokens=1e9, sharding="none")
    assert adv.min_gpus(small, 80) == 1


def test_tokens_from_samples_and_epochs_and_bad_input():
    run = adv.TrainingRun(parameters=1e9, samples=1e6, epochs=3, seq_len=1024)
    assert run.training_tokens == 3 * 1e6 * 1024
    with pytest.raises(ValueError):
        _ = adv.TrainingRun(parameters=1e9).training_tokens
    with pytest.raises(ValueError):
        adv.TrainingRun(parameters=-1, tokens=1)
    with pytest.raises(ValueError):
        adv.TrainingRun(parameters=1e9, tokens=1, optimiser="lion")


@pytest.fixture
def demo() -> dict:
    return public_site(load_site())


def test_the_plan_uses_the_sites_gpu_partitions_and_specs(demo):
    partitions, specs = plan.gpu_partitions(demo)
    assert [p.name for p in partitions] == ["gpu"]
    assert specs["sim"].memory_gb == 80 and specs["sim"].peak_tflops_bf16 == 312
    run = adv.TrainingRun(parameters=125e6, tokens=2.5e9)
    (option,) = plan.options(run, partitions, specs)
    assert option.fits and option.min_gpus == 1 and option.nodes == 1
    assert option.gpu_hours == pytest.approx(6 * 125e6 * 2.5e9 / (0.4 * 312e12) / 3600)
    assert option.cpu_hours == pytest.approx(option.gpu_hours * 4 / 4)  # the node's share
    assert option.jobs == 2  # 4.2 h with jobs of at most 4 h
    assert plan.recommend([option]) == option


def test_a_run_bigger_than_the_partition_does_not_fit(demo):
    partitions, specs = plan.gpu_partitions(demo)
    run = adv.TrainingRun(parameters=70e9, tokens=1.4e12)
    (option,) = plan.options(run, partitions, specs)
    assert not option.fits and option.min_gpus > 4
    assert "the partition has 8" in option.why_not
    assert plan.recommend([option]) is None
    unknown = plan.option(run, partitions[0], None)
    assert "no specs" in unknown.why_not


def test_access_settings_come_back_from_the_public_facts(demo):
    access = plan.access_settings(demo)
    assert access.modes == PUBLISHED and access.rates.gpu_hour_eur == 2.0
    assert plan.access_settings({}).modes == PUBLISHED  # no access block: the policy's defaults
    sovereign = {"label": "Sovereign", "applicant_types": ["academia"], "lengths_months": [12],
                 "selection": "fifo", "decision_working_days": 5, "price": {"academia": "free"},
                 "max_gpu_hours": None}  # fmt: skip
    own = plan.access_settings({"access": {"modes": {"sovereign": sovereign}}})
    assert list(own.modes) == ["sovereign"] and own.trial.mode == "sovereign"


def test_costs_list_the_modes_open_to_the_applicant_type(demo):
    access = plan.access_settings(demo)
    by_type = {t: [c.mode for c in plan.costs(100, 800, access, t)] for t in ApplicantType}
    assert by_type == {
        ApplicantType.startup_sme: ["playground", "fast_lane", "large_scale", "ai_science"],
        ApplicantType.industry: ["playground", "fast_lane", "large_scale", "ai_science"],
        ApplicantType.academia: ["ai_science"],
        ApplicantType.public_research: ["ai_science"],
    }


def test_costs_follow_the_access_policy_and_the_sites_rates(demo):
    access = plan.access_settings(demo)
    start_up = {c.mode: c for c in plan.costs(100, 800, access, ApplicantType.startup_sme)}
    assert all(not c.closed_terms.charged for c in start_up.values())  # free in every mode
    assert start_up["playground"].fits and start_up["fast_lane"].fits
    assert not start_up["large_scale"].fits  # 100 GPU-h is below its 50,000
    assert start_up["ai_science"].fits and start_up["ai_science"].max_gpu_hours is None
    industry = {c.mode: c for c in plan.costs(100, 800, access, ApplicantType.industry)}
    assert not industry["fast_lane"].open_terms.charged
    assert industry["fast_lane"].closed_amount == Decimal("216.00")  # 100 x 2.00 + 800 x 0.02
    assert industry["large_scale"].closed_terms.charged and industry["large_scale"].label == (
        "Large Scale"
    )
    big = {c.mode: c for c in plan.costs(60_000, 0, access, ApplicantType.industry)}
    assert [m for m, c in big.items() if c.fits] == ["large_scale", "ai_science"]
    too_many_cpu = plan.costs(10, 20_000, access, ApplicantType.industry)[0]
    assert too_many_cpu.mode == "playground" and not too_many_cpu.fits


def test_cost_rows_say_only_the_bounds_a_mode_sets(demo):
    access = plan.access_settings(demo)
    rows = {r[0]: r for r in cost_rows(plan.costs(100, 800, access, ApplicantType.industry))}
    assert rows["Playground"] == ("Playground", "yes", "free (publish results openly (link due "
                                  "after the allocation ends))", "216.00 EUR")  # fmt: skip
    assert rows["Large Scale"][1] == "no: more than 50,000 GPU-h"
    big = {r[0]: r for r in cost_rows(plan.costs(60_000, 0, access, ApplicantType.industry))}
    assert big["Fast Lane"][1] == "no: at most 50,000 GPU-h, at most 500,000 CPU-h"
    assert big["AI for Science"][1] == "yes"
    charged = ModeSettings(label="Paid", applicant_types=["industry"], lengths_months=[1],
                           selection="fifo", decision_working_days=1,
                           price={"industry": "charged"})  # fmt: skip
    paid = AccessSettings(modes={"paid": charged}, trial={"mode": "paid"})
    [row] = cost_rows(plan.costs(1, 0, paid, ApplicantType.industry), "CHF")
    assert row == ("Paid", "yes", "2.00 CHF", "2.00 CHF")  # charged even with open results
    assert cost_rows(plan.costs(1, 0, paid, ApplicantType.academia)) == []
    cpu_only = AccessSettings(
        modes={"paid": charged.model_copy(update={"max_gpu_hours": 0})}, trial={"mode": "paid"}
    )
    [row] = cost_rows(plan.costs(1, 0, cpu_only, ApplicantType.industry))
    assert row[1] == "no: at most 0 GPU-h"  # a bound of 0 is a bound, not "none"


def test_allocation_fit():
    assert plan.allocation_fit(10, 80, 20, 100)[0]
    fits, text = plan.allocation_fit(30, 80, 20, 50)
    assert not fits and "10.0 GPU-hours" in text and "30.0 CPU-hours" in text
