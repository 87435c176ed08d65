"""The spawn form's HTML: only the user's projects, their partitions, and bounded fields.

Everything shown that came from a site file or a user is escaped. The form is filled with what
a spawn would use now (the last options, if still allowed), so nothing is reused silently.
Each project shows what is left of its allocation (from the store's usage figures), with a
warning at 80 % and 95 %; a used-up project stays listed, so the user sees why it is refused.
Above the choices, a table of the partitions (hubside/partition_table.py) with what Slurm
reports now; under them the price of a session hour and, when the request does not fit now,
Slurm's expected start. All of it is in the HTML (usable with JavaScript off); the script only
updates the lines when the user changes a choice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape

from aifactory_hub.data import folders
from aifactory_hub.hubside import presets as saved
from aifactory_hub.hubside.partition_table import (
    ProjectPrice,
    partition_table,
    price_text,
    request_fits,
    start_text,
)
from aifactory_hub.policy import ProjectQuota, quota_note
from aifactory_hub.site import Project, Site
from aifactory_hub.site.sessions import SessionRequest, allowed_partitions, validate_options
from aifactory_hub.slurm.capacity import NodeInfo, PartitionCapacity
from aifactory_hub.slurm.queue import ExpectedStart, PartitionQueue


def render_form(
    site: Site,
    projects: Sequence[Project],
    previous: SessionRequest | None,
    capacity: Mapping[str, PartitionCapacity],
    quotas: Mapping[str, ProjectQuota] | None = None,
    presets: Mapping[str, Mapping[str, object]] | None = None,
    from_link: bool = False,
    *,
    nodes: Sequence[NodeInfo] | None = None,
    queue: Mapping[str, PartitionQueue] | None = None,
    prices: Mapping[str, ProjectPrice] | None = None,
    expected: ExpectedStart | str | None = None,
) -> str:
    """The form for `projects`, filled with `previous` (or the site's defaults).

    Every fact comes in as a plain value, read by the caller (hubside/spawn_inputs.py):
    `capacity` and `nodes` from one `scontrol show node` (`nodes` None: Slurm did not answer),
    `queue` from one `squeue` (None: unknown), `prices` per account (None: the store could not
    be read), `expected` Slurm's answer to `sbatch --test-only` for `previous` when it does not
    fit now. Pure: the same inputs give the same HTML, so tests assert on it directly.
    """
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
    rates = site.access.rates
    price_of = {p.account: (prices or {}).get(p.account) for p in projects}
    price_json = {
        a: None if v is None else {"charged": v.charged, "why": v.why} for a, v in price_of.items()
    }
    fits = request_fits(nodes, current)
    free_nodes = {
        name: [list(n.free) for n in nodes or () if n.usable and name in n.partitions]
        for name in sorted(shown_parts)
    }
    note_text, note_css = notes[current.account]
    table = partition_table(
        site, [p.name for p in site.partitions if p.name in shown_parts], nodes, capacity, queue
    )
    price_line = price_text(price_of[current.account], rates, current.cpus, current.gpus)
    rates_json = {"cpu": rates.cpu_hour_eur, "gpu": rates.gpu_hour_eur, "currency": rates.currency}
    start_css = "alert alert-info" if fits is False else "help-block"
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
  {table}
  <div class="form-group">
    <label for="aif-project">Project (Slurm account)</label>
    <select class="form-control" name="project" id="aif-project">{project_options}</select>
  </div>
  <p id="aif-quota" class="{escape(note_css)}">{escape(note_text)}</p>
  <p id="aif-price" class="help-block">{escape(price_line)}</p>
  {_prices_block(projects, price_of)}
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
  <p id="aif-start" class="{start_css}">{escape(start_text(current, fits, expected))}</p>
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
  var prices = {_json(price_json)};
  var rates = {_json(rates_json)};
  var freeNodes = {_json(free_nodes if nodes is not None else None)};
  var first = {_json([current.partition, current.cpus, current.memory_gb, current.gpus])};
  var project = document.getElementById("aif-project");
  var partition = document.getElementById("aif-partition");
  var firstStart = document.getElementById("aif-start").textContent;
  function num(name) {{ return Number(document.getElementById("aif-" + name).value) || 0; }}
  function price() {{
    var terms = prices[project.value], cpus = num("cpus"), gpus = num("gpus");
    var line = document.getElementById("aif-price");
    if (!terms) {{ return; }}  // the store was not read: the server's "unknown" stays
    if (!terms.charged) {{ line.textContent = "Price: free (" + terms.why + ")."; return; }}
    var amount = (Math.round((cpus * rates.cpu + gpus * rates.gpu) * 100) / 100).toFixed(2);
    var parts = cpus + " CPU-h x " + rates.cpu;
    if (gpus) {{ parts += " + " + gpus + " GPU-h x " + rates.gpu; }}
    line.textContent = "Price: " + amount + " " + rates.currency + " per session hour (" +
      parts + " " + rates.currency + "; " + terms.why + ").";
  }}
  function start() {{
    var line = document.getElementById("aif-start");
    var now = [partition.value, num("cpus"), num("memory_gb"), num("gpus")];
    if (freeNodes === null || now.join() === first.join()) {{
      line.textContent = firstStart;
      return;
    }}
    var fits = (freeNodes[partition.value] || []).some(function (n) {{
      return n[0] >= now[1] && n[1] >= now[3] && n[2] >= now[2] * 1024;
    }});
    line.textContent = fits ? "This request fits on a free node of " + partition.value + " now." :
      "Not enough free CPUs, GPUs or memory on one node of " + partition.value + " now: Slurm " +
      "queues it (the expected start was asked for the pre-filled request only).";
  }}
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
    price();
    start();
  }}
  project.addEventListener("change", update);
  partition.addEventListener("change", update);
  ["cpus", "memory_gb", "gpus"].forEach(function (name) {{
    document.getElementById("aif-" + name).addEventListener("input", function () {{
      price(); start();
    }});
  }});
  update();
  document.getElementById("aif-spawn-form").setAttribute("data-script", "on");
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


def _prices_block(projects: Sequence[Project], prices: Mapping[str, ProjectPrice | None]) -> str:
    """Each project's price terms, in the HTML (the price line above is the chosen one's)."""
    if len(projects) < 2:
        return ""
    rows = "".join(
        f"<li>{escape(p.account)}: "
        + escape(
            "unknown"
            if (t := prices.get(p.account)) is None
            else ("charged at the site's rates" if t.charged else "free") + f" ({t.why})"
        )
        + "</li>"
        for p in projects
    )
    return (
        '<details id="aif-price-terms"><summary>Price terms of your projects</summary>'
        f"<ul>{rows}</ul></details>"
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
