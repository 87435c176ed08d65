"""Eligibility of a proposal: is it complete, does it fit the access mode, and is it ethical?

One function answers for a finished proposal and for a draft being typed: it returns every
problem at once, each tied to the field the applicant has to change. The ethics gate also sees
the licences of the catalogue items a proposal names: commercial work may not use an item
whose licence forbids commercial use.
"""

from __future__ import annotations

from collections.abc import Sequence

from aifactory_hub.policy.model import (
    ApplicantType,
    EthicsAssessment,
    Frozen,
    HighRiskArea,
    PartitionInfo,
    ProposalDraft,
    Request,
)
from aifactory_hub.policy.pricing import in_sentence
from aifactory_hub.policy.settings import ModeSettings

EU_VALUES = "Only trustworthy and ethical AI in line with EU values is eligible."
TITLE_LENGTH = (5, 200)
MIN_ABSTRACT = 50
MIN_INTENDED_USE = 20
MIN_MITIGATION_PLAN = 100

# (dotted field, message) pairs, turned into Findings at the public boundary.
_Problems = list[tuple[str, str]]


class Finding(Frozen):
    """One problem: `field` is a dotted path into the draft, `message` says what to change."""

    field: str
    message: str


class CatalogueLicence(Frozen):
    """A catalogue item a proposal names, as the ethics gate sees it: its licence's terms."""

    name: str
    licence: str
    commercial_use: bool = True


class Eligibility(Frozen):
    """`ineligible_reason` is set only for a refusal that no edit of the draft can fix."""

    eligible: bool
    findings: tuple[Finding, ...] = ()
    ineligible_reason: str = ""


def check_eligibility(
    draft: ProposalDraft,
    mode: ModeSettings,
    partitions: Sequence[PartitionInfo],
    catalogue: Sequence[CatalogueLicence] = (),
) -> Eligibility:
    """Check a draft against the rules of its access mode (`mode`), the site's partitions and
    the licences of the catalogue items it names (`catalogue`, in the draft's order).

    Missing or too short text, requests that do not fit and an item the work may not use can
    be fixed; a prohibited practice cannot, and is also given as `ineligible_reason`.
    """
    problems: _Problems = []
    low, high = TITLE_LENGTH
    if not low <= len(draft.title.strip()) <= high:
        problems.append(("title", f"Give a title of {low} to {high} characters."))
    if len(draft.abstract.strip()) < MIN_ABSTRACT:
        problems.append(("abstract", f"Write an abstract of at least {MIN_ABSTRACT} characters."))
    if draft.applicant_type not in mode.applicant_types:
        allowed = ", ".join(in_sentence(t) for t in mode.applicant_types)
        problems.append(
            ("applicant_type", f"{mode.label} is for {allowed} applicants, not "
             f"{in_sentence(draft.applicant_type)}.")
        )  # fmt: skip
    problems += _request_problems(
        draft.requests,
        partitions,
        mode.max_gpu_hours,
        mode.max_cpu_hours,
        limit=f"the {mode.label} limit",
    )
    problems += _mode_size_problems(draft, mode)
    reason = ""
    if draft.ethics is None:
        problems.append(("ethics", "Fill in the ethics self-assessment of your project."))
    else:
        problems += _ethics_problems(draft.ethics)
        reason = _refusal(draft.ethics)
    problems += _licence_problems(draft, catalogue)
    findings = _findings(problems)
    return Eligibility(eligible=not findings, findings=findings, ineligible_reason=reason)


def request_findings(
    requests: Sequence[Request],
    partitions: Sequence[PartitionInfo],
    max_gpu_hours: float | None,
    max_cpu_hours: float | None,
    *,
    limit: str = "the limit",
) -> tuple[Finding, ...]:
    """Problems with the hours asked for: unknown partitions, impossible or too many hours.

    `limit` names the totals' limit in messages, e.g. "the fast lane limit".
    """
    return _findings(_request_problems(requests, partitions, max_gpu_hours, max_cpu_hours, limit))


def _mode_size_problems(draft: ProposalDraft, mode: ModeSettings) -> _Problems:
    """The mode's lower bound, its per-partition bounds and its allocation lengths."""
    problems: _Problems = []
    gpu_total = sum(max(r.gpu_hours, 0) for r in draft.requests)
    if draft.requests and gpu_total < mode.min_gpu_hours:
        problems.append(
            ("requests", f"{mode.label} is for more than {mode.min_gpu_hours:g} GPU hours; "
             f"{gpu_total:g} fit a smaller mode.")
        )  # fmt: skip
    for i, req in enumerate(draft.requests):
        bound = mode.partition_max_gpu_hours.get(req.partition)
        if bound is not None and req.gpu_hours > bound:
            problems.append(
                (f"requests.{i}.gpu_hours", f"{mode.label} allows at most {bound:g} GPU hours "
                 f"on {req.partition}.")
            )  # fmt: skip
    if draft.length_months is None:
        problems.append(("length_months", f"Choose a length: {_months(mode)}."))
    elif draft.length_months not in mode.lengths_months:
        problems.append(
            ("length_months", f"{mode.label} allocations last {_months(mode)}, not "
             f"{draft.length_months}.")
        )  # fmt: skip
    return problems


def _months(mode: ModeSettings) -> str:
    *first, last = [str(n) for n in mode.lengths_months]
    return (f"{', '.join(first)} or {last}" if first else last) + " months"


def _findings(problems: _Problems) -> tuple[Finding, ...]:
    return tuple(Finding(field=field, message=message) for field, message in problems)


def _request_problems(
    requests: Sequence[Request],
    partitions: Sequence[PartitionInfo],
    max_gpu_hours: float | None,
    max_cpu_hours: float | None,
    limit: str,
) -> _Problems:
    if not requests:
        return [("requests", "Ask for GPU or CPU hours on at least one partition.")]
    known = {p.name: p for p in partitions}
    problems: _Problems = []
    seen: set[str] = set()
    for i, req in enumerate(requests):
        where = f"requests.{i}"
        part = known.get(req.partition)
        if part is None:
            choices = ", ".join(sorted(known)) or "none"
            problems.append(
                (
                    f"{where}.partition",
                    f"There is no partition {req.partition!r} ({choices} exist).",
                )
            )
        elif req.partition in seen:
            problems.append(
                (f"{where}.partition", f"Partition {req.partition} is asked for twice; merge them.")
            )
        seen.add(req.partition)
        if req.gpu_hours < 0:
            problems.append((f"{where}.gpu_hours", "GPU hours cannot be negative."))
        if req.cpu_hours < 0:
            problems.append((f"{where}.cpu_hours", "CPU hours cannot be negative."))
        if req.gpu_hours == 0 and req.cpu_hours == 0:
            problems.append((where, f"Ask for some GPU or CPU hours on {req.partition}."))
        if req.gpu_hours > 0 and part is not None and not part.has_gpus:
            problems.append(
                (f"{where}.gpu_hours", f"Partition {req.partition} has no GPUs; ask for CPU hours.")
            )
    gpu_total = sum(max(r.gpu_hours, 0) for r in requests)
    cpu_total = sum(max(r.cpu_hours, 0) for r in requests)
    if max_gpu_hours is not None and gpu_total > max_gpu_hours:
        problems.append(
            ("requests", f"{gpu_total:g} GPU hours in total exceed {limit} of {max_gpu_hours:g}.")
        )
    if max_cpu_hours is not None and cpu_total > max_cpu_hours:
        problems.append(
            ("requests", f"{cpu_total:g} CPU hours in total exceed {limit} of {max_cpu_hours:g}.")
        )
    return problems


def commercial_work(draft: ProposalDraft) -> bool:
    """Whether the work is commercial: industry terms would charge it (no public research
    funding, no academic partner, results not published openly), whatever the access mode
    charges: free hours are not a licence to use data commercially."""
    research = draft.applicant_type in (ApplicantType.academia, ApplicantType.public_research)
    return not (
        (research and draft.public_funding) or draft.academic_partner.strip() or draft.open_results
    )


def _licence_problems(draft: ProposalDraft, catalogue: Sequence[CatalogueLicence]) -> _Problems:
    """Commercial work naming an item whose licence forbids commercial use: one finding per
    such item, naming it and its licence."""
    if not commercial_work(draft):
        return []
    return [
        (
            "catalogue",
            f"{item.name} is licensed under {item.licence}, which forbids commercial use, and "
            "this work is commercial (results not published openly, no academic partner, no "
            f"public research funding): publish the results openly, work with an academic "
            f"partner, or do not use {item.name}.",
        )
        for item in catalogue
        if not item.commercial_use
    ]


def _refusal(ethics: EthicsAssessment) -> str:
    if not ethics.prohibited_practices:
        return ""
    labels = "; ".join(p.label for p in ethics.prohibited_practices)
    return f"Prohibited by the EU AI Act (Art. 5): {labels}. {EU_VALUES}"


def _ethics_problems(ethics: EthicsAssessment) -> _Problems:
    problems: _Problems = [
        (
            "ethics.prohibited_practices",
            f"{p.label}: prohibited by the EU AI Act (Art. 5). {EU_VALUES}",
        )
        for p in ethics.prohibited_practices
    ]
    if len(ethics.intended_use.strip()) < MIN_INTENDED_USE:
        problems.append(
            (
                "ethics.intended_use",
                f"Say what the AI will be used for, in at least {MIN_INTENDED_USE} characters.",
            )
        )
    area = ethics.high_risk_area
    if area != HighRiskArea.none and len(ethics.mitigation_plan.strip()) < MIN_MITIGATION_PLAN:
        problems.append(
            (
                "ethics.mitigation_plan",
                f"{area.label} is a high-risk area (EU AI Act, Annex III): describe how you "
                f"mitigate the risks in at least {MIN_MITIGATION_PLAN} characters.",
            )
        )
    if ethics.personal_data and ethics.legal_basis is None:
        problems.append(
            ("ethics.legal_basis", "You process personal data: give its legal basis (GDPR Art. 6).")
        )
    for i, source in enumerate(ethics.data_sources):
        if not source.name.strip():
            problems.append((f"ethics.data_sources.{i}.name", "Name the data source."))
        if not source.licence.strip():
            problems.append(
                (
                    f"ethics.data_sources.{i}.licence",
                    f"Give the licence under which you use {source.name or 'this data'}.",
                )
            )
    if not ethics.transparency_acknowledged:
        problems.append(
            (
                "ethics.transparency_acknowledged",
                "Confirm that people will be told when they deal with your AI "
                "(EU AI Act transparency obligations).",
            )
        )
    return problems
