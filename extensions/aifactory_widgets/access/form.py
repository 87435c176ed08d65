"""The researcher's proposal form: apply for compute time in an open call, in a notebook.

The factory service is the one judge of a proposal. The form sends the draft to
`proposals/check` on every change and shows the findings field by field, so nobody learns
the rules from a refusal at submit time, and the rules live in one place (the service).
User text is shown in Labels only: a Label never renders markup. The catalogue items the
project will use are picked from those the service says the applicant may use; the ethics
check sees their licences. The allocation lengths offered are those of the call's access
mode, read from the site's public facts (`GET api/site`: modes are site data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as w

from aifactory_hub import policy
from aifactory_widgets.access.proposal_view import (
    clock_text,
    is_overdue,
    labels,
    length_text,
    mode_label,
)
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.format import plural
from aifactory_widgets.ui.panel import refusal as error_text

API = "api/"  # the client's base URL is the service's; its REST API lives under api/
MAX_HOURS = 1e7
CHECK_FAILED = "Could not check the draft"
NO_LEGAL_BASIS = ""  # the Dropdown's "not chosen yet"; sent as null
DRAFT_FIELDS = tuple(
    "call_id title abstract organisation applicant_type software requests open_results "
    "academic_partner public_funding length_months ethics catalogue".split()
)

# Codes as in docs/access-api.md; the labels are the policy's own, so they never drift. Access
# modes are site data: the service sends each one's label (`access_mode_label`, `mode_label`).
APPLICANT_TYPES = labels(policy.ApplicantType)
PROHIBITED_PRACTICES = labels(policy.ProhibitedPractice)
HIGH_RISK_AREAS = labels(policy.HighRiskArea)
LEGAL_BASES = labels(policy.LegalBasis)


def parse_data_sources(text: str) -> list[dict[str, str]]:
    """One "name | licence" per line. A line without '|' is a name with an empty licence:
    the service flags the missing licence rather than the form guessing one."""
    sources = []
    for line in text.splitlines():
        if line.strip():
            name, _, licence = line.partition("|")
            sources.append({"name": name.strip(), "licence": licence.strip()})
    return sources


def format_data_sources(sources: Iterable[Mapping[str, str]]) -> str:
    """The Textarea text that `parse_data_sources` turns back into `sources`."""
    lines = []
    for s in sources:
        name, licence = s.get("name") or "", s.get("licence") or ""
        lines.append(f"{name} | {licence}" if licence else name)
    return "\n".join(lines)


def requests_body(rows: Iterable[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Partitions with some hours, in row order: an empty row is no request at all."""
    return [
        {"partition": p, "gpu_hours": gpu, "cpu_hours": cpu} for p, gpu, cpu in rows if gpu or cpu
    ]


def summary(result: Mapping[str, Any]) -> tuple[str, bool]:
    """The line above the findings, and whether it is a refusal no edit can fix (shown red)."""
    if result.get("ineligible_reason"):
        return str(result["ineligible_reason"]), True
    count = len(result.get("findings") or [])
    if not count:
        return "Ready to submit", False
    return f"{plural(count, 'thing')} to fix before you can submit", False


def finding_text(finding: Mapping[str, Any]) -> str:
    """'field: message', the field being the dotted path the service named."""
    field, message = finding.get("field") or "", str(finding.get("message") or "")
    return f"{field}: {message}" if field else message


def length_options(mode: Mapping[str, Any] | None) -> list[tuple[str, int]]:
    """The Dropdown's (label, months) for the lengths an access mode allows (site data)."""
    return [(length_text(n), n) for n in (mode or {}).get("lengths_months") or ()]


def mode_text(call: Mapping[str, Any], mode: Mapping[str, Any] | None) -> str:
    """'Access mode: Fast Lane (set by the call): decided within 4 working days'."""
    name = call.get("mode_label") or (mode or {}).get("label") or call.get("mode") or ""
    text = f"Access mode: {name} (set by the call)"
    target = (mode or {}).get("decision_working_days")
    if target:
        after = " after its cut-off" if (mode or {}).get("selection") == "review" else ""
        text += f": decided within {target} working days{after}"
    return text


def call_label(call: Mapping[str, Any]) -> str:
    return f"{mode_label(call, 'mode')}: {call.get('title') or 'call ' + str(call['id'])}"


def catalogue_options(
    items: Iterable[Mapping[str, Any]], named: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The multi-select's (label, name) pairs: each item the applicant may use with its
    licence, then any name the proposal holds that is no longer offered (shown, not dropped:
    saving says why it is refused)."""
    options = [(f"{i['name']} ({i.get('licence') or 'licence not given'})", i["name"])
               for i in items]  # fmt: skip
    offered = {name for _, name in options}
    options += [(f"{n} (not in the catalogue you may use)", n) for n in named if n not in offered]
    return options


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _options(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(label, code) for code, label in labels.items()]


def _field(kind: Callable[..., w.Widget], description: str, **kw: Any) -> w.Widget:
    style = {"description_width": "150px"}
    return kind(description=description, style=style, layout=w.Layout(width="640px"), **kw)


def _check(description: str) -> w.Checkbox:
    return w.Checkbox(description=description, indent=False, layout=w.Layout(width="auto"))


def _show(widget: w.Widget, shown: bool) -> None:
    widget.layout.display = None if shown else "none"


class ProposalForm(w.VBox):
    """One proposal, from a first draft to submission; read-only once it left the draft state.

    `ProposalForm()` talks to the factory service with the session's own token; `proposal`
    (as the service returns it) fills the form to go on with a draft or read a submission."""

    def __init__(self, client: FactoryClient | None = None, proposal: dict[str, Any] | None = None):
        self.client = client or FactoryClient.from_env()
        self.proposal_id: int | None = None
        self.read_only = False
        self.calls: dict[int, dict[str, Any]] = {}
        self.modes: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, tuple[w.BoundedFloatText, w.BoundedFloatText]] = {}
        self._last_checked: dict[str, Any] | None = None
        self._quiet = True  # no checks while the form fills itself
        self._build_inputs()
        self._build_outputs()
        super().__init__(self._sections())
        self._load_modes()
        self._load_calls(proposal)
        self._load_catalogue(proposal)
        if proposal:
            self.load(proposal)
        self._quiet = False
        self._update_visibility()
        self.check()

    def _build_inputs(self) -> None:
        self.call = _field(w.Dropdown, "Call", options=[])
        self.call.observe(self._call_changed, "value")
        self.access_mode = w.Label()
        self.length = _field(w.Dropdown, "Allocation length", options=[])
        self.title = _field(w.Text, "Title")
        self.abstract = _field(w.Textarea, "Abstract", rows=6)
        self.organisation = _field(w.Text, "Organisation")
        self.applicant_type = _field(
            w.Dropdown, "Applicant type", options=_options(APPLICANT_TYPES)
        )
        self.software = _field(w.Text, "Software")
        self.request_box = w.VBox()
        self.open_results = _check("The results will be published openly")
        self.academic_partner = _field(w.Text, "Academic partner")
        self.public_funding = _check("The work is publicly funded")
        self.intended_use = _field(w.Textarea, "Intended use", rows=3)
        self.practices = {
            c: _check(f"my work involves: {t}") for c, t in PROHIBITED_PRACTICES.items()
        }
        self.high_risk_area = _field(
            w.Dropdown, "High-risk area", options=_options(HIGH_RISK_AREAS)
        )
        self.mitigation_plan = _field(w.Textarea, "Mitigation plan", rows=4)
        self.personal_data = _check("The work processes personal data")
        legal = [("(choose one)", NO_LEGAL_BASIS), *_options(LEGAL_BASES)]
        self.legal_basis = _field(w.Dropdown, "Legal basis", options=legal)
        self.data_sources = _field(
            w.Textarea, "Data sources", rows=3, placeholder="one per line: name | licence"
        )
        self.transparency = _check("People will be told when they deal with this AI")
        self.catalogue = _field(w.SelectMultiple, "Catalogue items", options=[], rows=4)
        self.catalogue_note = w.Label()
        for widget in self._inputs():
            widget.observe(self._changed, "value")

    def _build_outputs(self) -> None:
        self.status = w.Label()
        self.clock = w.Label()
        self.summary = w.Label()
        self.findings = w.VBox()
        self.message = w.Label()
        self.confirm = ConfirmRow()
        self.save_button = w.Button(description="Save draft", icon="save")
        self.save_button.on_click(lambda _: self.save())
        self.submit_button = w.Button(description="Submit", button_style="primary")
        self.submit_button.on_click(lambda _: self.ask_submit())

    def _sections(self) -> list[w.Widget]:
        return [
            w.HTML("<h3>Apply for compute time</h3>"),
            self.call,
            self.access_mode,
            self.length,
            *(self.title, self.abstract, self.organisation, self.applicant_type, self.software),
            w.HTML("<h4>Hours per partition</h4>"),
            self.request_box,
            w.HTML("<h4>Terms</h4>"),
            *(self.open_results, self.academic_partner, self.public_funding),
            w.HTML("<h4>Ethics self-assessment</h4>"),
            self.intended_use,
            *self.practices.values(),
            *(self.high_risk_area, self.mitigation_plan, self.personal_data, self.legal_basis),
            *(self.data_sources, self.transparency),
            w.HTML("<h4>Shared datasets and models from the catalogue</h4>"),
            self.catalogue,
            self.catalogue_note,
            w.HBox([self.summary]),
            self.findings,
            w.HBox([self.save_button, self.submit_button, self.status]),
            self.clock,
            self.confirm,
            self.message,
        ]

    def _inputs(self) -> list[w.Widget]:
        hours = [box for pair in self.requests.values() for box in pair]
        return [
            *(self.title, self.abstract, self.organisation, self.applicant_type, self.software),
            *(self.open_results, self.academic_partner, self.public_funding, self.intended_use),
            *self.practices.values(),
            *(self.high_risk_area, self.mitigation_plan, self.personal_data, self.legal_basis),
            *(self.data_sources, self.transparency, self.catalogue, self.length),
            *hours,
        ]

    def _load_modes(self) -> None:
        """The site's access modes: each call's mode sets the lengths one may choose."""
        try:
            site = self.client.get(API + "site") or {}
        except FactoryError as exc:
            site = {}
            self.message.value = f"Could not read the access modes: {error_text(exc)}"
        self.modes = dict((site.get("access") or {}).get("modes") or {})

    def _load_calls(self, proposal: dict[str, Any] | None) -> None:
        """Open calls, plus the proposal's own call even if it has closed since."""
        try:
            calls = self.client.get(API + "calls") or []
        except FactoryError as exc:
            calls = []
            self.message.value = f"Could not load the calls: {error_text(exc)}"
        mine = proposal.get("call_id") if proposal else None
        self.calls = {c["id"]: c for c in calls if c.get("status") == "open" or c["id"] == mine}
        if mine is not None and mine not in self.calls:
            mode = proposal.get("access_mode") or ""
            label = proposal.get("access_mode_label") or ""
            self.calls[mine] = {"id": mine, "mode": mode, "mode_label": label, "title": "",
                                "capacity": {}}  # fmt: skip
        if not self.calls and not self.message.value:
            self.message.value = "No call is open right now."
        self.call.options = [(call_label(c), c["id"]) for c in self.calls.values()]
        self.call.value = mine if mine is not None else next(iter(self.calls), None)

    def _load_catalogue(self, proposal: Mapping[str, Any] | None) -> None:
        """The catalogue items the applicant may use, and those the proposal names."""
        try:
            items = self.client.get(API + "catalogue") or []
        except FactoryError as exc:
            items = []
            self.catalogue_note.value = f"Could not load the catalogue: {error_text(exc)}"
        named = (proposal or {}).get("catalogue") or []
        self.catalogue.options = catalogue_options(items, named)
        if not self.catalogue.options and not self.catalogue_note.value:
            self.catalogue_note.value = "No catalogue item is open to your projects."

    def _call_changed(self, _change: dict | None = None) -> None:
        """The call decides the access mode and which partitions one may ask hours on."""
        call = self.calls.get(self.call.value) or {}
        mode = self.modes.get(call.get("mode") or "")
        self.access_mode.value = mode_text(call, mode)
        self._set_lengths(length_options(mode))
        typed = [p for p, (gpu, cpu) in self.requests.items() if gpu.value or cpu.value]
        self._set_partitions(_unique([*(call.get("capacity") or {}), *typed]))
        self._changed()

    def _set_lengths(self, options: list[tuple[str, int]]) -> None:
        """The call's mode's lengths; a length chosen before is kept while the mode allows it
        (a Dropdown jumps to its first option whenever its options change)."""
        kept = self.length.value
        self.length.options = options
        allowed = [n for _, n in options]
        self.length.value = kept if kept in allowed else (allowed[0] if allowed else None)

    def _set_partitions(self, names: list[str]) -> None:
        """One row per partition; hours already typed for a partition are kept."""
        old = {p: (gpu.value, cpu.value) for p, (gpu, cpu) in self.requests.items()}
        self.requests = {p: self._hours_pair(*old.get(p, (0.0, 0.0))) for p in names}
        self.request_box.children = [
            w.HBox([w.Label(p, layout=w.Layout(width="150px")), gpu, cpu])
            for p, (gpu, cpu) in self.requests.items()
        ]

    def _hours_pair(self, gpu: float, cpu: float) -> tuple[w.BoundedFloatText, w.BoundedFloatText]:
        pair = tuple(
            w.BoundedFloatText(
                value=v, min=0, max=MAX_HOURS, description=d, disabled=self.read_only
            )
            for v, d in ((gpu, "GPU hours"), (cpu, "CPU hours"))
        )
        for box in pair:
            box.observe(self._changed, "value")
        return pair

    def load(self, proposal: Mapping[str, Any]) -> None:
        """Fill every field from a proposal as the service returns it."""
        quiet, self._quiet = self._quiet, True
        self.proposal_id = proposal.get("id")
        self.call.value = proposal["call_id"]
        for name in ("title", "abstract", "organisation", "software", "academic_partner"):
            getattr(self, name).value = proposal.get(name) or ""
        self.applicant_type.value = proposal.get("applicant_type") or "startup_sme"
        self.open_results.value = bool(proposal.get("open_results"))
        self.public_funding.value = bool(proposal.get("public_funding"))
        months = proposal.get("length_months")
        if months is not None and months not in [n for _, n in self.length.options]:
            # a length the mode no longer offers is shown, not dropped: saving says why
            self.length.options = [*self.length.options, (length_text(months), months)]
        if months is not None:
            self.length.value = months
        asked = proposal.get("requests") or []
        capacity = self.calls.get(self.call.value, {}).get("capacity") or {}
        self._set_partitions(_unique([*(r["partition"] for r in asked), *capacity]))
        for r in asked:
            gpu, cpu = self.requests[r["partition"]]
            gpu.value, cpu.value = r.get("gpu_hours") or 0, r.get("cpu_hours") or 0
        self._load_ethics(proposal.get("ethics") or {})
        offered = {name for _, name in self.catalogue.options}
        self.catalogue.value = tuple(n for n in proposal.get("catalogue") or [] if n in offered)
        self._quiet = quiet
        self.show_status(proposal)

    def _load_ethics(self, ethics: Mapping[str, Any]) -> None:
        self.intended_use.value = ethics.get("intended_use") or ""
        chosen = set(ethics.get("prohibited_practices") or ())
        for code, box in self.practices.items():
            box.value = code in chosen
        self.high_risk_area.value = ethics.get("high_risk_area") or "none"
        self.mitigation_plan.value = ethics.get("mitigation_plan") or ""
        self.personal_data.value = bool(ethics.get("personal_data"))
        self.legal_basis.value = ethics.get("legal_basis") or NO_LEGAL_BASIS
        self.data_sources.value = format_data_sources(ethics.get("data_sources") or [])
        self.transparency.value = bool(ethics.get("transparency_acknowledged"))

    def to_body(self) -> dict[str, Any]:
        """The draft fields of the contract, from the widgets' values alone. Answers hidden
        with their question (a mitigation plan without a high-risk area, a legal basis without
        personal data) are kept in the form but not sent."""
        area, personal = self.high_risk_area.value, self.personal_data.value
        rows = ((p, gpu.value, cpu.value) for p, (gpu, cpu) in self.requests.items())
        return {
            "call_id": self.call.value,
            "title": self.title.value,
            "abstract": self.abstract.value,
            "organisation": self.organisation.value,
            "applicant_type": self.applicant_type.value,
            "software": self.software.value,
            "requests": requests_body(rows),
            "open_results": self.open_results.value,
            "academic_partner": self.academic_partner.value,
            "public_funding": self.public_funding.value,
            "length_months": self.length.value,
            "ethics": {
                "intended_use": self.intended_use.value,
                "prohibited_practices": [c for c, box in self.practices.items() if box.value],
                "high_risk_area": area,
                "mitigation_plan": self.mitigation_plan.value if area != "none" else "",
                "personal_data": personal,
                "legal_basis": (self.legal_basis.value or None) if personal else None,
                "data_sources": parse_data_sources(self.data_sources.value),
                "transparency_acknowledged": self.transparency.value,
            },
            "catalogue": list(self.catalogue.value),
        }

    def _changed(self, _change: dict | None = None) -> None:
        self._update_visibility()
        self.check()

    def _update_visibility(self) -> None:
        _show(self.mitigation_plan, self.high_risk_area.value != "none")
        _show(self.legal_basis, self.personal_data.value)

    def check(self) -> None:
        """Ask the service what is missing in the draft as it is now (nothing is stored)."""
        if self._quiet or self.read_only or self.call.value is None:
            return
        body = self.to_body()
        if body == self._last_checked:
            return
        try:
            result = self.client.post(API + "proposals/check", body)
        except FactoryError as exc:
            self.message.value = f"{CHECK_FAILED}: {error_text(exc)}"
            return
        self._last_checked = body
        if self.message.value.startswith(CHECK_FAILED):
            self.message.value = ""
        self.show_check(result)

    def show_check(self, result: Mapping[str, Any]) -> None:
        text, refused = summary(result)
        self.summary.value = text
        self.summary.style.text_color = "red" if refused else None
        self.findings.children = [w.Label(finding_text(f)) for f in result.get("findings") or []]

    def show_status(self, proposal: Mapping[str, Any]) -> None:
        status = str(proposal.get("status") or "draft")
        self.status.value = f"Proposal #{proposal.get('id')}: {status.replace('_', ' ')}"
        self.clock.value = clock_text(dict(proposal))
        self.clock.style.text_color = "red" if is_overdue(dict(proposal)) else None
        if status != "draft":
            self.make_read_only()
            if proposal.get("eligibility"):
                self.show_check(proposal["eligibility"])

    def make_read_only(self) -> None:
        """A submitted proposal is the service's to judge; the form only shows it."""
        self.read_only = True
        for widget in (self.call, *self._inputs()):
            widget.disabled = True
        for button in (self.save_button, self.submit_button):
            _show(button, False)
        self.confirm.hide()

    def save(self) -> dict[str, Any] | None:
        """Create the draft the first time, update it after; the answer, or None if refused."""
        body = self.to_body()
        try:
            if self.proposal_id is None:
                answer = self.client.post(API + "proposals", body)
            else:
                answer = self.client.put(f"{API}proposals/{self.proposal_id}", body)
        except FactoryError as exc:
            self.message.value = f"Could not save: {error_text(exc)}"
            return None
        self.proposal_id = answer["id"]
        self.message.value = f"Draft saved as proposal #{self.proposal_id}."
        self.show_status(answer)
        return answer

    def ask_submit(self) -> None:
        """Ask first: a submitted proposal can no longer be edited."""
        question = "Submit this proposal? You cannot edit it afterwards."
        self.confirm.ask(question, "Yes, submit", self.submit)

    def submit(self) -> None:
        """Save what is on screen, then submit that."""
        if self.save() is None:
            return
        try:
            answer = self.client.post(f"{API}proposals/{self.proposal_id}/submit")
        except FactoryError as exc:
            self.message.value = f"Could not submit: {error_text(exc)}"
            return
        self.message.value = f"Submitted: {str(answer.get('status')).replace('_', ' ')}."
        self.show_status(answer)
