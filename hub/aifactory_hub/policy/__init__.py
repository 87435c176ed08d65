"""The access policy of the AI factory, as pure functions over plain data.

Eligibility (completeness and the ethics gate), peer review, ranking against the capacity of
a call, and price. Nothing here reads a file, a database, Slurm or the network.
"""

from .eligibility import Eligibility, Finding, check_eligibility, request_findings
from .model import (
    AccessMode,
    ApplicantType,
    DataSource,
    EthicsAssessment,
    HighRiskArea,
    LegalBasis,
    PartitionInfo,
    ProhibitedPractice,
    ProposalDraft,
    Request,
)
from .pricing import PriceDecision, charge, obligation_due, obligation_overdue, price
from .ranking import Candidate, Decision, decide
from .review import (
    Score,
    TechnicalCheck,
    combined,
    conflict_of_interest,
    organisation_key,
    ready_for_decision,
    technical_findings,
)
from .settings import AccessSettings, ModeSettings, Rates

__all__ = [
    "AccessMode",
    "AccessSettings",
    "ApplicantType",
    "Candidate",
    "DataSource",
    "Decision",
    "Eligibility",
    "EthicsAssessment",
    "Finding",
    "HighRiskArea",
    "LegalBasis",
    "ModeSettings",
    "PartitionInfo",
    "PriceDecision",
    "ProhibitedPractice",
    "ProposalDraft",
    "Rates",
    "Request",
    "Score",
    "TechnicalCheck",
    "charge",
    "check_eligibility",
    "combined",
    "conflict_of_interest",
    "decide",
    "obligation_due",
    "obligation_overdue",
    "organisation_key",
    "price",
    "ready_for_decision",
    "request_findings",
    "technical_findings",
]
