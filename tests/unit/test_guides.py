"""The guides: every one renders with the demo site's facts, every fact comes from the site,
raw HTML is escaped, search finds words in the body; and the site's GPU specs are validated."""

from __future__ import annotations

import re

import pytest

from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import DEMO_SITE, SiteError, load_site, parse_site
from aifactory_widgets.guides.facts import site_facts
from aifactory_widgets.guides.library import (
    GuideError,
    fill,
    load_guides,
    parse_guide,
    search,
    segments,
    to_html,
)

REQUIRED = {
    "choosing-resources", "first-notebook-session", "dask-on-the-cluster", "multi-node-training",
    "moving-and-staging-data", "applying-for-access", "ethics-self-assessment",
    "running-a-workshop", "software-environments",
}  # fmt: skip


def demo_text(replace: tuple[str, str] | None = None) -> str:
    text = DEMO_SITE.read_text()
    return text.replace(*replace) if replace else text


@pytest.fixture(scope="module")
def facts() -> dict:
    return site_facts(public_site(load_site()))


def rendered(facts: dict) -> dict[str, str]:
    return {g.slug: fill(g, facts) for g in load_guides()}


def test_the_required_guides_exist_with_front_matter():
    guides = {g.slug: g for g in load_guides()}
    assert REQUIRED <= set(guides)
    for guide in guides.values():
        assert guide.title and guide.tags and guide.audience and guide.summary
        assert guide.level in ("beginner", "intermediate", "advanced")


def test_every_guide_renders_with_no_placeholder_left(facts):
    for slug, text in rendered(facts).items():
        assert "{{" not in text and "[?" not in text, slug
        parts = segments(text)
        assert parts and all(p.text.strip() for p in parts), slug
        assert "{{" not in "".join(p.text for p in parts)


def test_site_facts_come_from_the_site_file():
    """Rename the GPU partition and its GPU model, change the rate: every guide follows."""
    before = site_facts(public_site(parse_site(demo_text())))
    changed = demo_text(('name = "gpu"\n', 'name = "booster"\n'))
    changed = changed.replace('partitions = ["cpu", "gpu"]', 'partitions = ["cpu", "booster"]')
    assert "[access" not in changed  # the demo keeps the policy's default rates
    changed += "\n[access.rates]\ngpu_hour_eur = 3.5\n"
    after = site_facts(public_site(parse_site(changed)))
    old, new = rendered(before), rendered(after)
    assert "**gpu**" in old["choosing-resources"] and "**booster**" in new["choosing-resources"]
    assert "#SBATCH --partition=booster" in new["multi-node-training"]
    assert "#SBATCH --partition=gpu" in old["multi-node-training"]
    assert "3.50 EUR per GPU-hour" in new["applying-for-access"]
    assert "2.00 EUR per GPU-hour" in old["applying-for-access"]
    changed_guides = {slug for slug in old if old[slug] != new[slug]}
    assert {"choosing-resources", "multi-node-training", "applying-for-access"} <= changed_guides


def test_the_demo_gpus_are_labelled_as_an_assumption(facts):
    text = rendered(facts)["choosing-resources"]
    assert "simulated GPUs with NVIDIA A100 80GB figures" in text
    assert "| sim | A100 80GB-like (simulated) | 80 GB | 312 |" in text


def test_an_unknown_fact_is_an_error_or_shown_as_unknown():
    guide = parse_guide("t", "---\ntitle: T\naudience: researcher\nlevel: beginner\ntags: [a]\n"
                             "---\nUse {{ gpu.nmae }} here.\n")  # fmt: skip
    with pytest.raises(GuideError, match=r"t: unknown site fact \{\{ gpu.nmae \}\}"):
        fill(guide, {"gpu": {"name": "gpu"}})
    assert fill(guide, {}, strict=False) == "Use [?gpu.nmae] here.\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("no front matter", "no front matter"),
        ("---\ntitle: T\n", "does not end"),
        ("---\ntitle: T\naudience: x\nlevel: beginner\ntags: a\n---\n", "audience"),
        ("---\ntitle: T\naudience: researcher\nlevel: expert\ntags: a\n---\n", "level"),
        ("---\ntitle: T\n---\nbody", "lacks audience, level, tags"),
    ],
)
def test_bad_front_matter_names_the_problem(text, message):
    with pytest.raises(GuideError, match=message):
        parse_guide("bad", text)


def test_raw_html_in_a_guide_is_escaped():
    source = '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[x](javascript:a())'
    html = to_html(source)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "javascript:" not in html
    parts = segments("Text\n\n```bash\necho '<b>'\n```\n\nMore")
    assert [p.kind for p in parts] == ["html", "code", "html"]
    assert parts[1].text == "echo '<b>'" and parts[1].language == "bash"


def test_search_finds_guides_by_words_in_their_body(facts):
    pairs = [(g, fill(g, facts)) for g in load_guides()]
    assert [g.slug for g in search(pairs, "rsync")] == ["moving-and-staging-data"]
    assert [g.slug for g in search(pairs, "lifetime-stagger")] == ["dask-on-the-cluster"]
    assert "multi-node-training" in [g.slug for g in search(pairs, "STOP_AT torchrun")]
    assert search(pairs, "rsync torchrun zzzz") == []
    # a title hit ranks first
    assert search(pairs, "ethics")[0].slug == "ethics-self-assessment"
    trainers = search(pairs, audience="trainer")
    assert [g.slug for g in trainers] == ["running-a-workshop"]
    assert all(g.level == "advanced" for g in search(pairs, level="advanced"))
    assert [g.slug for g in search(pairs, tag="dask")] == ["dask-on-the-cluster"]


def test_fences_start_at_the_line_start_so_every_code_block_is_copyable(facts):
    for slug, text in rendered(facts).items():
        fences = len(re.findall(r"^```", text, re.M))
        assert fences % 2 == 0, slug
        assert len([p for p in segments(text) if p.kind == "code"]) == fences // 2, slug


def test_gpu_types_are_validated():
    with pytest.raises(SiteError, match=r"gpu_types.0.memory_gb"):
        parse_site(demo_text(("memory_gb = 80\n", "memory_gb = -1\n")))
    twice = demo_text() + '\n[[gpu_types]]\nname = "sim"\nmemory_gb = 1\npeak_tflops_bf16 = 1\n'
    with pytest.raises(SiteError, match="gpu_types: 'sim' appears twice"):
        parse_site(twice)
    site = load_site()
    assert site.gpu_type("sim").peak_tflops_bf16 == 312 and site.gpu_type("h100") is None


def test_public_site_facts_hold_no_private_data():
    facts = public_site(load_site())
    assert set(facts) == {"name", "cluster", "default_partition", "defaults", "partitions",
                          "gpu_types", "access", "storage", "environments", "software"}  # fmt: skip
    text = repr(facts)
    for private in ("alice", "ai-alpha", "sqlite", "127.0.0.1", "oauth"):
        assert private not in text


def test_the_access_mode_facts_quote_the_sites_modes(facts):
    """Bounds a mode does not set, lengths, selection and decision targets, price terms."""
    large, science = facts["modes"]["large_scale"], facts["modes"]["ai_science"]
    assert (large["size"], large["max_gpu_hours"], large["lengths"]) == (
        "at least 50,000 GPU-h", "set by the call", "3, 6 or 12 months",
    )  # fmt: skip
    assert large["selection"] == "peer review at cut-offs (days 1 and 15 of each month)"
    assert large["decision"] == "within 10 working days of a cut-off"
    assert science["lengths"] == "6 months" and science["cutoff_days"] == "day 1"
    playground = facts["modes"]["playground"]
    assert playground["max_gpu_hours"] == "1,000 GPU-hours"
    assert playground["decision"] == "within 2 working days"
    assert playground["selection"] == "first come, first served"
    assert playground["checks"] == "eligibility check, technical check and ethics self-assessment"
    assert facts["trial"] == {"max_gpu_hours": "10", "max_cpu_hours": "100",
                              "duration_days": "30", "mode": "Playground"}  # fmt: skip
    prices = facts["tables"]["prices"].splitlines()
    assert prices[0] == (
        "| access mode | Start-up or SME | Industry | Academia | Public research organisation |"
    )
    assert prices[2] == (
        "| Playground | free | free with open results or a partner | not open | not open |"
    )
    text = rendered(facts)["applying-for-access"]
    assert "| Large Scale | Start-up or SME, Industry | at least 50,000 GPU-h |" in text


def test_a_sites_own_mode_is_in_the_guides():
    own = """
[access.trial]
mode = "sovereign"
duration_days = 14

[access.modes.sovereign]
label = "Sovereign AI"
applicant_types = ["public_research"]
max_gpu_hours = 20000
lengths_months = [6, 12]
selection = "review"
cutoff_days = [10]
reviewers_required = 3
decision_working_days = 15
clock_from = "cutoff"
price = {public_research = "free"}
"""
    # The demo's storage allowances name the published modes: this site has others.
    text = re.sub(r"(?m)^allowance_gb = .*$", "", demo_text())
    facts = site_facts(public_site(parse_site(text + own)))
    assert list(facts["modes"]) == ["sovereign"]
    mode = facts["modes"]["sovereign"]
    assert (mode["who"], mode["size"], mode["lengths"], mode["decision"]) == (
        "Public research organisation", "up to 20,000 GPU-h", "6 or 12 months",
        "within 15 working days of a cut-off",
    )  # fmt: skip
    assert mode["checks"] == "eligibility check, ethics self-assessment and 3 peer reviews"
    assert "| Sovereign AI | not open | not open | not open | free |" in facts["tables"]["prices"]
    assert "Sovereign AI" in facts["tables"]["access_modes"]
    guides = rendered(facts)  # every guide renders with the site's own modes, nothing unknown
    assert "- **Sovereign AI**: Up to 20,000 GPU-h per request" in guides["applying-for-access"]


def test_the_guide_describes_every_mode_of_the_site_in_its_own_words(facts):
    text = rendered(facts)["applying-for-access"]
    assert (
        "- **Fast Lane**: Industry users already familiar with HPC: up to 50,000 GPU-hours. Up "
        "to 50,000 GPU-h per request, for 1, 2 or 3 months. First come, first served: after the "
        "eligibility check, technical check and ethics self-assessment, requests are granted in "
        "order of arrival, the decision within 4 working days."
    ) in text
    assert (
        "- **AI for Science**: Scientific, public and industrial users in collaborative EU R&I "
        "projects. Sized by the call per request, for 6 months. Requests collect until the next "
        "cut-off (day 1 of each month)"
    ) in text
    # the guides name no mode code: a site with other modes gets no "[?modes...]" in them
    assert [g.slug for g in load_guides() if "{{ modes." in g.source] == []


def test_the_environment_facts_come_from_the_site(facts):
    assert facts["environments"]["default"] == "factory"
    assert facts["environments"]["example"] == "pytorch"
    assert facts["environments"]["example_module"] == "pytorch/2.13"
    assert facts["environments"]["build_minutes"] == "30"
    rows = facts["tables"]["environments"].splitlines()
    assert rows[0] == "| environment | what it has | modules it loads | partitions |"
    assert rows[2].startswith("| **factory** (default) | The factory's own stack")
    assert rows[4] == "| **jax** | JAX 0.10 (CPU) and NumPy, nothing else | `jax/0.10` | all |"
    text = rendered(facts)["software-environments"]
    assert facts["tables"]["environments"] in text
    assert "If you choose none, a session gets **factory**." in text
    assert "module load pytorch/2.13" in text
    assert "/hub/spawn?project=<project>&partition=cpu&environment=pytorch&cpus=1" in text
    for widget in ("RegisterKernel()", "BuildEnvironment()", "&autostart=1", "AI Factory tools"):
        assert widget in text


def test_a_sites_own_environments_are_in_the_guide():
    """Another default, one environment on the GPU partition only; and a site with none."""
    text = demo_text().replace('prefix = "/opt/aifactory/venv"\ndefault = true\n',
                               'prefix = "/opt/aifactory/venv"\n')  # fmt: skip
    text = text.replace('modules = ["jax/0.10"]\n', 'modules = ["jax/0.10"]\ndefault = true\n'
                        'partitions = ["gpu"]\n')  # fmt: skip
    facts = site_facts(public_site(parse_site(text)))
    assert facts["environments"]["default"] == "jax"
    jax = "| **jax** (default) | JAX 0.10 (CPU) and NumPy, nothing else | `jax/0.10` | gpu |"
    assert jax in facts["tables"]["environments"]
    assert "a session gets **jax**" in rendered(facts)["software-environments"]
    bare = re.sub(r"(?ms)^\[\[environments\]\].*?(?=^\[\[projects\]\])", "", demo_text())
    facts = site_facts(public_site(parse_site(bare)))
    assert facts["environments"]["default"] == "none"
    assert "defines no software environments" in facts["tables"]["environments"]
    assert "{{" not in rendered(facts)["software-environments"]
