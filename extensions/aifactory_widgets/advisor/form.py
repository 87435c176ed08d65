"""The resource and cost advisor: how much GPU memory, how many GPUs and GPU-hours, how long,
at what price, on which partition, and whether the project has that much left.

The formulas are the access policy's pure functions (`aifactory_hub.advisor.training` and
`advisor_plan`); the GPU specs, partitions, access modes and rates come from the factory's
public site facts; the project's remaining hours from the usage API (or, where that is not
there, its grant from the projects API, and the advisor says so). It hands its numbers to the
training launcher (launch.py), and names the site environment for the chosen framework with a
spawn link for a session sized to the plan (`aifactory_hub.advisor.session`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
from pydantic import ValidationError

from aifactory_hub.advisor import plan
from aifactory_hub.advisor import session as sessions
from aifactory_hub.advisor import training as adv
from aifactory_hub.policy.model import ApplicantType
from aifactory_hub.policy.pricing import in_sentence
from aifactory_widgets.advisor.launch import LauncherLink
from aifactory_widgets.advisor.view import compute_rows, cost_rows, memory_rows
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.tables import html_table

MEMORY_COLUMNS = ("sharding", "weights", "gradients", "optimiser", "activations", "per GPU",
                  "fits")  # fmt: skip
COMPUTE_COLUMNS = ("partition", "GPU", "fewest GPUs", "GPUs used", "GPU-hours", "CPU-hours",
                   "wall time", "jobs in a row", "")  # fmt: skip
COST_COLUMNS = ("access mode", "one proposal can ask for it", "with open results or a partner",
                "otherwise")  # fmt: skip


def project_hours(client: FactoryClient) -> tuple[dict[str, dict[str, tuple[float, float]]], str]:
    """({project: {partition: (GPU-hours, CPU-hours) left}}, where the figures come from)."""
    try:
        usage = client.get("api/usage")
        left = {
            p["account"]: {
                row["partition"]: (row["remaining"]["gpu_hours"], row["remaining"]["cpu_hours"])
                for row in p.get("partitions", [])
            }
            for p in usage.get("projects", [])
        }
        return left, f"what is left, from accounting as of {usage.get('as_of') or 'now'}"
    except (FactoryError, KeyError, TypeError, AttributeError):
        pass  # no usage API on this factory yet: compare with the grant instead
    projects = client.get("api/projects") or []
    granted = {
        p["account"]: {a["partition"]: (a["gpu_hours"], a["cpu_hours"]) for a in p["allocations"]}
        for p in projects
    }
    return granted, "the grant (usage figures are not available here: hours used are not deducted)"


def _field(kind: type[w.Widget], description: str, **kw: Any) -> w.Widget:
    widget = kind(description=description, **kw)
    widget.style.description_width = "170px"
    return widget


class Advisor(w.VBox):
    """The run's inputs on the left, the estimates below; every change recomputes.

    `client` defaults to the session's own token; outside the hub the advisor still computes,
    from `site` (the JSON of `GET api/site`) when given, and says what it does not know."""

    def __init__(self, client: FactoryClient | None = None, site: Mapping[str, Any] | None = None):
        if client is None:
            try:
                client = FactoryClient.from_env()
            except FactoryError:
                client = None  # not under the hub: no prices or allocations, said below
        self.client = client
        self.message = w.Label()
        if client is None and site is None:
            self.message.value = "Not under AI Factory Hub: no GPUs, prices or allocations known."
        self.site = dict(site) if site is not None else self._read_site()
        self.partitions, self.specs = plan.gpu_partitions(self.site)
        self.access = plan.access_settings(self.site) if self.site else None
        self.left, self.left_source = self._read_hours()
        number, whole, choice = w.BoundedFloatText, w.BoundedIntText, w.Dropdown
        data_kinds = [("tokens", "tokens"), ("samples x epochs", "samples")]
        shardings = [(v[0], k) for k, v in adv.SHARDING.items()]
        self.parameters_b = _field(number, "Parameters (billions)", value=7, min=1e-3, max=1e5)
        self.data_kind = _field(choice, "Training data given as", options=data_kinds)
        self.tokens_b = _field(number, "Tokens (billions)", value=100, min=1e-3, max=1e7)
        self.samples = _field(number, "Samples (sequences)", value=1e6, min=1, max=1e13)
        self.epochs = _field(number, "Epochs", value=1.0, min=0.01, max=1e4)
        self.seq_len = _field(whole, "Sequence length", value=2048, min=1, max=1_048_576)
        self.micro_batch = _field(whole, "Micro-batch per GPU", value=1, min=1, max=4096)
        self.precision = _field(choice, "Precision", options=_labels(adv.PRECISIONS))
        self.optimiser = _field(choice, "Optimiser", options=_labels(adv.OPTIMISERS))
        self.sharding = _field(choice, "Sharding", options=shardings, value="zero3")
        self.checkpointing = w.Checkbox(description="Activation checkpointing", value=False)
        self.mfu = _field(number, "Utilisation (MFU)", value=0.4, min=0.01, max=1.0, step=0.05)
        self.gpus = _field(whole, "GPUs (0: the fewest)", value=0, min=0, max=100_000)
        projects = sorted(self.left)
        here = os.environ.get("SLURM_JOB_ACCOUNT", "")
        chosen = here if here in projects else (projects[0] if projects else "")
        project_options = [("none", ""), *((p, p) for p in projects)]
        self.project = _field(choice, "Project", options=project_options, value=chosen)
        frameworks = list(sessions.FRAMEWORKS)
        self.framework = _field(choice, "Framework", options=frameworks, value="other")
        self.session = w.HTML()
        self.fits_allocation: bool | None = None
        self.memory = w.HTML()
        self.compute = w.HTML()
        self.recommendation = w.Label()
        self.jobs_note = w.Label()
        # The site's modes are open to some applicant types only, and price by type.
        applicant_types = [(t.label, t.value) for t in ApplicantType]
        self.applicant_type = _field(choice, "You apply as", options=applicant_types)
        self.applicant_type.observe(lambda _: self.update(), "value")
        self.costs = w.HTML()
        self.allocation = w.Label()
        self.estimate: dict[str, Any] = {}
        self.launcher = LauncherLink(lambda: self.estimate)
        inputs = [self.parameters_b, self.data_kind, self.tokens_b, self.samples, self.epochs,
                  self.seq_len, self.micro_batch, self.precision, self.optimiser, self.sharding,
                  self.checkpointing, self.mfu, self.gpus, self.project,
                  self.framework]  # fmt: skip
        for widget in inputs:
            widget.observe(lambda _: self.update(), "value")
        notes = [g.note for g in self.specs.values() if g.note]
        super().__init__(
            [
                w.HTML("<h3>Resource and cost advisor</h3>"),
                self.message,
                w.HBox([w.VBox(inputs[:7]), w.VBox(inputs[7:])]),
                w.HTML("<h4>Memory per GPU</h4>"),
                self.memory,
                w.HTML("<h4>Compute, GPUs and time on this centre's GPU partitions</h4>"),
                self.compute,
                self.recommendation,
                self.jobs_note,
                self.session,
                w.HTML("<h4>Cost by access mode</h4>"),
                self.applicant_type,
                self.costs,
                self.allocation,
                *(w.Label(n) for n in notes),
                self.launcher,
            ]
        )
        self.update()

    def _read_site(self) -> dict[str, Any]:
        if self.client is None:
            return {}
        try:
            return self.client.get("api/site")
        except FactoryError as exc:
            self.message.value = f"Could not read this centre's GPUs and prices: {exc}"
            return {}

    def _read_hours(self) -> tuple[dict[str, dict[str, tuple[float, float]]], str]:
        if self.client is None:
            return {}, ""
        try:
            return project_hours(self.client)
        except FactoryError as exc:
            return {}, f"unknown (could not read your projects: {exc})"

    def run(self) -> adv.TrainingRun:
        by_tokens = self.data_kind.value == "tokens"
        return adv.TrainingRun(
            parameters=self.parameters_b.value * 1e9,
            tokens=self.tokens_b.value * 1e9 if by_tokens else None,
            samples=None if by_tokens else self.samples.value,
            epochs=self.epochs.value,
            seq_len=self.seq_len.value,
            micro_batch=self.micro_batch.value,
            precision=self.precision.value,
            optimiser=self.optimiser.value,
            sharding=self.sharding.value,
            checkpointing=self.checkpointing.value,
            mfu=self.mfu.value,
        )

    def update(self) -> None:
        """Recompute every estimate from the inputs (pure functions: fast, no service call)."""
        by_tokens = self.data_kind.value == "tokens"
        self.tokens_b.layout.display = None if by_tokens else "none"
        self.samples.layout.display = self.epochs.layout.display = "none" if by_tokens else None
        try:
            run = self.run()
        except ValidationError as exc:
            self.message.value = f"Check the inputs: {exc.errors()[0]['msg']}"
            return
        self.message.value = "" if self.site else self.message.value
        options = plan.options(run, self.partitions, self.specs, self.gpus.value or None)
        best = plan.recommend(options)
        gpu_memory = self.specs[best.gpu_type].memory_gb if best else None
        self.memory.value = html_table(MEMORY_COLUMNS, memory_rows(run, best, gpu_memory))
        self.compute.value = html_table(
            COMPUTE_COLUMNS, compute_rows(run, options), empty="this centre has no GPU partition"
        )
        self._summarise(run, best)

    def _summarise(self, run: adv.TrainingRun, best: plan.Option | None) -> None:
        flops = adv.training_flops(run.parameters, run.training_tokens)
        if best is None:
            self.recommendation.value = f"{flops:.3g} FLOPs; no partition here can run it as set."
            self.jobs_note.value = self.allocation.value = self.costs.value = ""
            self.session.value = ""
            self.estimate = {}
            self.launcher.refresh()
            return
        self.recommendation.value = (
            f"{flops:.3g} FLOPs. Use partition {best.partition}: {best.gpus} GPUs on "
            f"{best.nodes} node(s), {best.gpu_hours:,.1f} GPU-hours, wall time "
            f"{best.wall_hours:,.1f} h."
        )
        if best.gpus < best.total_gpus:
            all_gpus = best.gpu_hours / best.total_gpus
            self.recommendation.value += f" On all {best.total_gpus} GPUs: {all_gpus:,.1f} h."
        part = next(p for p in self.partitions if p.name == best.partition)
        self.jobs_note.value = (
            f"Jobs of at most {part.max_walltime_hours:g} h: {best.jobs} in a row, each resuming "
            "from a checkpoint (guide: Multi-node training and checkpointing)."
            if best.jobs > 1
            else "It fits in one job."
        )
        if self.access is not None:
            applicant = ApplicantType(self.applicant_type.value)
            costs = plan.costs(best.gpu_hours, best.cpu_hours, self.access, applicant)
            rows = cost_rows(costs, self.access.rates.currency)
            none = f"no access mode of this centre is open to {in_sentence(applicant)} applicants"
            self.costs.value = html_table(COST_COLUMNS, rows, empty=none)
        self.allocation.value = self._allocation_text(best)
        self.session.value = self._session_html(best)
        self.estimate = {
            "account": self.project.value,
            "partition": best.partition,
            "nodes": best.nodes,
            "gpus_per_node": min(best.gpus, part.gpus_per_node),
            "walltime_hours": min(best.wall_hours, part.max_walltime_hours),
            "jobs": best.jobs,
            "gpu_hours": best.gpu_hours,
        }
        self.launcher.refresh()

    def _session_html(self, best: plan.Option) -> str:
        """The environment for the framework and a link to a session sized to the plan."""
        part = next(p for p in self.site.get("partitions", []) if p["name"] == best.partition)
        environments = self.site.get("environments") or []
        env = sessions.environment_for(environments, best.partition, self.framework.value)
        size = sessions.session_size(best, part)
        base = os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + sessions.SPAWN_PATH
        link = sessions.spawn_link(self.project.value, best.partition, env, size, base)
        described = next((e.get("description", "") for e in environments if e["name"] == env), "")
        pick = ""
        if env:
            what = f" ({html.escape(described)})" if described else ""
            pick = f"Environment: <b>{html.escape(env)}</b>{what}. "
        held = (
            f" A session on {html.escape(best.partition)} may have at most "
            f"{part['max_gpus']} GPU(s), {part['max_cpus']} CPUs and {part['max_memory_gb']} GB: "
            "run the training itself as a job (the launcher below)."
            if size.limited
            else ""
        )
        return (
            f'{pick}<a href="{html.escape(link, quote=True)}" target="_blank">Start a session '
            f"for this plan</a>: {size.gpus} GPU(s), {size.cpus} CPU(s), {size.memory_gb} GB, "
            f"{size.walltime_hours:g} h (the spawn form opens filled in; check it, then Start)."
            + held
        )

    def _allocation_text(self, best: plan.Option) -> str:
        project = self.project.value
        self.fits_allocation = None
        if not project:
            return "Pick a project to compare with its allocation."
        left = self.left.get(project, {}).get(best.partition)
        if left is None:
            return f"{project} has no allocation on {best.partition} on record."
        self.fits_allocation, text = plan.allocation_fit(best.gpu_hours, best.cpu_hours, *left)
        return f"{project} on {best.partition}: {text} ({self.left_source})."


def _labels(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(v.label, k) for k, v in table.items()]
