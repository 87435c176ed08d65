"""The spawn form's HTML: only the user's projects, their partitions, and bounded fields.

Everything shown that came from a site file or a user is escaped. The form is filled with what
a spawn would use now (the last options, if still allowed), so nothing is reused silently.
Each project shows what is left of its allocation (from the store's usage figures), with a
warning at 80 % and 95 %; a used-up project stays listed, so the user sees why it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape

from aifactory_hub.data import folders
from aifactory_hub.hubside import presets as saved
from aifactory_hub.policy import ProjectQuota, quota_note
from aifactory_hub.site import Project, Site
from aifactory_hub.site.sessions import SessionRequest, allowed_partitions, validate_options
from aifactory_hub.slurm.capacity import PartitionCapacity


def render_form(
    site: Site,
    projects: Sequence[Project],
    previous: SessionRequest | None,
    capacity: Mapping[str, PartitionCapacity],
    quotas: Mapping[str, ProjectQuota] | None = None,
    presets: Mapping[str, Mapping[str, object]] | None = None,
    from_link: bool = False,
) -> str:
    if not projects:
        return (
            '<p class="alert alert-warning" id="aif-no-project">You are not a member of any '
            "project yet, so no session can be charged. Apply for access or ask your PI to add "
            "you to their project.</p>"
        )
    current = previous or validate_options({}, site=site, projects=projects)
    limits = {
        p.name: {
            "cpus": [1, p.max_cpus],
            "memory_gb": [1, p.max_memory_gb],
            "gpus": [p.min_gpus, p.max_gpus],
            "walltime_hours": [0.25, p.max_walltime_hours],
        }
        for p in site.partitions
    }
    offered = {p.account: [part.name for part in allowed_partitions(site, p)] for p in projects}
    quotas = quotas or {}
    notes = {p.account: _quota_note(p.account, quotas.get(p.account)) for p in projects}
    where = {p.account: _folders_note(site, p.account) for p in projects}
    project_options = "".join(
        _option(
            p.account,
            f"{p.account} - {p.title}{_quota_label(quotas.get(p.account))}",
            p.account == current.account,
        )
        for p in projects
    )
    partition_options = "".join(
        _option(
            part.name,
            _partition_label(part, capacity.get(part.name)),
            part.name == current.partition,
        )
        for part in site.partitions
        if any(part.name in names for names in offered.values())
    )
    part = site.partition(current.partition)
    hours = round(current.walltime_minutes / 60, 2)
    shown_parts = {name for names in offered.values() for name in names}
    environments = [e for e in site.environments if any(e.offered_on(p) for p in shown_parts)]
    env_offered = {p: [e.name for e in site.environments_on(p)] for p in sorted(shown_parts)}
    link_note = (
        '<p class="alert alert-info" id="aif-from-link">A link filled in this form: check the '
        "session below and press Start.</p>"
        if from_link
        else ""
    )
    return f"""
<div id="aif-spawn-form">
  {link_note}
  {_presets_block(presets or {})}
  <p>Your session runs as a Slurm job on the chosen partition and is charged to the project.</p>
  <div class="form-group">
    <label for="aif-project">Project (Slurm account)</label>
    <select class="form-control" name="project" id="aif-project">{project_options}</select>
  </div>
  <p id="aif-quota" class="help-block"></p>
  <p id="aif-folders" class="help-block">{escape(where.get(current.account, ""))}</p>
  <div class="form-group">
    <label for="aif-partition">Partition</label>
    <select class="form-control" name="partition" id="aif-partition">{partition_options}</select>
  </div>
  {_environment_block(environments, current.environment)}
  {_number("cpus", "CPUs", current.cpus, 1, part.max_cpus, 1)}
  {_number("memory_gb", "Memory (GB)", current.memory_gb, 1, part.max_memory_gb, 1)}
  {_number("gpus", "GPUs", current.gpus, part.min_gpus, part.max_gpus, 1)}
  {_number("walltime_hours", "Wall time (hours)", hours, 0.25, part.max_walltime_hours, 0.25)}
  <p class="help-block" id="aif-summary">Limits per session follow the partition.</p>
  <div class="form-group">
    <label for="aif-preset-name">Save these choices as a preset (optional)</label>
    <input class="form-control" type="text" name="{saved.SAVE_FIELD}" id="aif-preset-name"
      maxlength="40" placeholder="e.g. gpu training">
  </div>
</div>
<script>
(function () {{
  var limits = {_json(limits)};
  var offered = {_json(offered)};
  var notes = {_json(notes)};
  var where = {_json(where)};
  var envs = {_json(env_offered)};
  var project = document.getElementById("aif-project");
  var partition = document.getElementById("aif-partition");
  function update() {{
    var note = notes[project.value] || ["", "help-block"];
    var quota = document.getElementById("aif-quota");
    quota.textContent = note[0];
    quota.className = note[1];
    document.getElementById("aif-folders").textContent = where[project.value] || "";
    var allowed = offered[project.value] || [];
    Array.prototype.forEach.call(partition.options, function (o) {{
      o.disabled = allowed.indexOf(o.value) < 0;
    }});
    if (allowed.indexOf(partition.value) < 0) {{ partition.value = allowed[0]; }}
    var environment = document.getElementById("aif-environment");
    if (environment) {{
      var ok = envs[partition.value] || [];
      Array.prototype.forEach.call(environment.options, function (o) {{
        o.disabled = ok.indexOf(o.value) < 0;
      }});
      if (ok.indexOf(environment.value) < 0 && ok.length) {{ environment.value = ok[0]; }}
    }}
    var lim = limits[partition.value];
    Object.keys(lim).forEach(function (name) {{
      var input = document.getElementById("aif-" + name);
      input.min = lim[name][0]; input.max = lim[name][1];
      if (Number(input.value) > lim[name][1]) {{ input.value = lim[name][1]; }}
      if (Number(input.value) < lim[name][0]) {{ input.value = lim[name][0]; }}
    }});
  }}
  project.addEventListener("change", update);
  partition.addEventListener("change", update);
  update();
}})();
</script>
"""


def _environment_block(environments: Sequence, chosen: str) -> str:
    """The environment choice (none when the site defines none), each with its description;
    the script disables those not offered on the chosen partition, the server checks again."""
    if not environments:
        return ""
    options = "".join(
        _option(
            e.name, f"{e.name} - {e.description}" if e.description else e.name, e.name == chosen
        )
        for e in environments
    )
    return (
        '<div class="form-group"><label for="aif-environment">Software environment</label>'
        f'<select class="form-control" name="environment" id="aif-environment">{options}</select>'
        '<p class="help-block">Your notebooks\' kernels and the terminal run in it; JupyterLab '
        "and the AI Factory tools kernel stay the factory's.</p></div>"
    )


def _presets_block(presets: Mapping[str, Mapping[str, object]]) -> str:
    """The user's presets: a link that fills the form in, one that starts at once, and a box to
    forget it on the next Start. Plain links and a checkbox: it works without JavaScript."""
    if not presets:
        return ""
    rows = []
    for name, options in sorted(presets.items()):
        summary = ", ".join(f"{k}={options[k]}" for k in options)
        fill, start = saved.preset_link(name), saved.preset_link(name, autostart=True)
        rows.append(
            f'<li class="aif-preset"><strong>{escape(name)}</strong> '
            f'<span class="help-block">({escape(summary)})</span> '
            f'<a href="{escape(fill)}">fill in</a> | '
            f'<a class="aif-preset-start" href="{escape(start)}">start now</a> '
            f'<label><input type="checkbox" name="{saved.FORGET_FIELD}" '
            f'value="{escape(name)}"> forget</label></li>'
        )
    return f'<div id="aif-presets"><p>Your presets:</p><ul>{"".join(rows)}</ul></div>'


def _folders_note(site: Site, account: str) -> str:
    """Where the session finds the project's shared files (set as text by the script)."""
    paths = folders.project_paths(site.storage, account)
    days = site.storage.scratch_purge_days
    return (
        f"Project files, shared with its members: $PROJECT_DIR = {paths['PROJECT_DIR']}; "
        f"scratch: $SCRATCH_DIR = {paths['SCRATCH_DIR']} (files unchanged for {days} days "
        "are removed)."
    )


def _partition_label(part, cap: PartitionCapacity | None) -> str:
    label = f"{part.name} - {part.description}" if part.description else part.name
    if cap is None:
        return label + " (capacity unknown)"
    free = f"{cap.cpus_free}/{cap.cpus_total} CPUs free"
    if part.has_gpus:
        free += f", {cap.gpus_free}/{cap.gpus_total} {part.gpu_type} GPUs free"
    return f"{label} ({free})"


def _quota_label(quota: ProjectQuota | None) -> str:
    """What the project list says about the allocation (text: the option escapes it)."""
    if quota is None or not quota.has_allocation:
        return " (no recorded allocation)"
    if quota.level == "exhausted":
        return " (allocation used up)"
    left = quota.remaining
    parts = [
        f"{v:.1f} {k}-h"
        for k, v, g in (("GPU", left.gpu, quota.granted.gpu), ("CPU", left.cpu, quota.granted.cpu))
        if g > 0
    ]
    return f" ({', '.join(parts)} left)"


def _quota_note(account: str, quota: ProjectQuota | None) -> tuple[str, str]:
    """(text, CSS class) of the line under the project list; set as text by the script."""
    if quota is None:
        return f"{account}: no recorded allocation (Slurm's own limits apply).", "help-block"
    css = {
        "exhausted": "alert alert-danger",
        "95": "alert alert-warning",
        "80": "alert alert-warning",
    }
    return quota_note(quota), css.get(quota.level, "help-block")


def _option(value: str, label: str, selected: bool) -> str:
    sel = " selected" if selected else ""
    return f'<option value="{escape(value)}"{sel}>{escape(label)}</option>'


def _number(name: str, label: str, value: float, low: float, high: float, step: float) -> str:
    return (
        f'<div class="form-group"><label for="aif-{name}">{escape(label)}</label>'
        f'<input class="form-control" type="number" name="{name}" id="aif-{name}" '
        f'value="{value:g}" min="{low:g}" max="{high:g}" step="{step:g}"></div>'
    )


def _json(value: object) -> str:
    # Safe inside <script>: no "</" can close the tag early.
    return json.dumps(value).replace("</", "<\\/")


def workshop_form(request: SessionRequest) -> str:
    """A participant's form: nothing to choose, only what the workshop gives them."""
    gpus = f", {request.gpus} GPU(s)" if request.gpus else ""
    text = (
        f"Your workshop session: {request.cpus} CPU(s), {request.memory_gb} GB{gpus} on "
        f"{request.partition}, in reservation {request.reservation}, for "
        f"{request.walltime_minutes} minutes. Press Start."
    )
    return f'<p class="aif-workshop">{escape(text)}</p>'
