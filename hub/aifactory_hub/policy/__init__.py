"""The access policy of the AI factory, as pure functions over plain data.

Eligibility (completeness and the ethics gate), peer review, ranking against the capacity of
a call, price, and quota arithmetic (granted, used, left, burn rate, warnings).
Nothing here reads a file, a database, Slurm or the network.
"""

from aifactory_hub.policy.eligibility import (
    Eligibility,
    Finding,
    check_eligibility,
    request_findings,
)
from aifactory_hub.policy.model import (
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
from aifactory_hub.policy.pricing import (
    PriceDecision,
    charge,
    obligation_due,
    obligation_overdue,
    price,
)
from aifactory_hub.policy.quota import (
    Hours,
    JobUse,
    PartitionQuota,
    ProjectQuota,
    burn_rate,
    cumulative_daily,
    fraction_used,
    project_quota,
    projected_exhaustion,
    quota_note,
    session_refusal,
    use_by,
    warning_level,
)
from aifactory_hub.policy.ranking import Candidate, Decision, decide
from aifactory_hub.policy.review import (
    Score,
    TechnicalCheck,
    combined,
    conflict_of_interest,
    organisation_key,
    ready_for_decision,
    technical_findings,
)
from aifactory_hub.policy.settings import AccessSettings, ModeSettings, Rates, TrialSettings

__all__ = [
    "AccessSettings",
    "ApplicantType",
    "Candidate",
    "DataSource",
    "Decision",
    "Eligibility",
    "EthicsAssessment",
    "Finding",
    "HighRiskArea",
    "Hours",
    "JobUse",
    "LegalBasis",
    "ModeSettings",
    "PartitionInfo",
    "PartitionQuota",
    "PriceDecision",
    "ProhibitedPractice",
    "ProjectQuota",
    "ProposalDraft",
    "Rates",
    "Request",
    "Score",
    "TechnicalCheck",
    "TrialSettings",
    "burn_rate",
    "charge",
    "check_eligibility",
    "combined",
    "conflict_of_interest",
    "cumulative_daily",
    "decide",
    "fraction_used",
    "obligation_due",
    "obligation_overdue",
    "organisation_key",
    "price",
    "project_quota",
    "projected_exhaustion",
    "quota_note",
    "ready_for_decision",
    "request_findings",
    "session_refusal",
    "technical_findings",
    "use_by",
    "warning_level",
]
