"""Peer review: conflicts of interest, scores on quality and pertinence, the technical check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import Field

from aifactory_hub.policy.eligibility import Finding, request_findings
from aifactory_hub.policy.model import Frozen, PartitionInfo, Request
from aifactory_hub.policy.settings import ModeSettings

# Legal-form and size words that do not tell two organisations apart, after punctuation is
# dropped ("S.A." -> "sa", "(start-up)" -> "startup").
LEGAL_FORMS = frozenset(
    "ab ag aps as bv co corp ev gmbh inc kg limited llc ltd nv oy oyj plc sa sarl sas se sl sme "
    "spa srl sro startup ug".split()
)


def organisation_key(name: str) -> str:
    """A comparable form of an organisation's name: casefolded, without accents, punctuation,
    spaces and legal forms at either end ("Alpha Robotics GmbH" -> "alpharobotics")."""
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[.'\u2019-]", "", text)
    words = re.sub(r"[\W_]+", " ", text).split()
    core = list(words)
    while core and core[-1] in LEGAL_FORMS:
        core.pop()
    while core and core[0] in LEGAL_FORMS:
        core.pop(0)
    # A name made only of legal-form words ("SA") is kept as it is.
    return "".join(core or words)


def conflict_of_interest(reviewer_organisation: str, applicant_organisation: str) -> bool:
    """True when the reviewer works for the applicant's organisation.

    An empty organisation on either side means "unknown" and is not a conflict: the service
    has to ask reviewers to declare their organisation (and never assign applicants to review
    their own proposal, which this function cannot see).
    """
    reviewer = organisation_key(reviewer_organisation)
    applicant = organisation_key(applicant_organisation)
    return bool(reviewer) and reviewer == applicant


class Score(Frozen):
    """One reviewer's marks, 1 (poor) to 5 (excellent). Only these two criteria count."""

    quality: int = Field(ge=1, le=5, strict=True)
    pertinence: int = Field(ge=1, le=5, strict=True)


def combined(scores: Sequence[Score]) -> float:
    """The proposal's score: the mean over reviewers of (quality + pertinence) / 2, 2 decimals."""
    if not scores:
        raise ValueError("no scores to combine")
    return round(sum((s.quality + s.pertinence) / 2 for s in scores) / len(scores), 2)


class TechnicalCheck(Frozen):
    """The centre's staff verdict: can the request run here as asked?"""

    feasible: bool
    notes: str = ""


def technical_findings(
    requests: Sequence[Request],
    partitions: Sequence[PartitionInfo],
    per_project_max_gpu_hours: float,
    per_project_max_cpu_hours: float,
) -> tuple[Finding, ...]:
    """What the technical check finds wrong with the requests, against the per-project caps."""
    return request_findings(
        requests,
        partitions,
        per_project_max_gpu_hours,
        per_project_max_cpu_hours,
        limit="the per-project limit",
    )


def ready_for_decision(
    mode: ModeSettings, n_scores: int, technical_check_done_and_feasible: bool
) -> tuple[bool, str]:
    """Can the proposal be decided on? If not, the reason says what is still missing."""
    missing = []
    if n_scores < mode.reviewers_required:
        missing.append(
            f"{n_scores} of {mode.reviewers_required} reviews are in; "
            f"{mode.reviewers_required - n_scores} more needed."
        )
    if mode.technical_check and not technical_check_done_and_feasible:
        missing.append("The technical check is not done or did not find the request feasible.")
    return not missing, " ".join(missing)
