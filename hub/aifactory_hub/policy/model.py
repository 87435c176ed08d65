"""The plain data the access policy decides on: access modes, applicants, drafts, ethics.

Models are frozen and refuse unknown fields, but they do not judge content: an empty title or
a negative number of hours is a valid draft that `check_eligibility` reports on, field by field.
Enumerations are StrEnums (their value is the code stored and sent over REST) and each member
carries a human `label` for messages.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every policy model: immutable, no unknown fields, no NaN or infinite hours."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Labelled(StrEnum):
    """A StrEnum whose members are declared as `code = "code", "Human label"`."""

    label: str

    def __new__(cls, value: str, label: str) -> _Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


class ApplicantType(_Labelled):
    startup_sme = "startup_sme", "Start-up or SME"
    industry = "industry", "Industry"
    academia = "academia", "Academia"
    public_research = "public_research", "Public research organisation"


class ProhibitedPractice(_Labelled):
    """Practices prohibited by the EU AI Act, Art. 5(1)."""

    subliminal_manipulation = (
        "subliminal_manipulation",
        "Subliminal, manipulative or deceptive techniques that distort behaviour",
    )
    exploiting_vulnerabilities = (
        "exploiting_vulnerabilities",
        "Exploiting vulnerabilities due to age, disability or social or economic situation",
    )
    social_scoring = "social_scoring", "Social scoring leading to unfavourable treatment"
    predictive_policing_profiling = (
        "predictive_policing_profiling",
        "Predicting that a person will commit a crime based solely on profiling",
    )
    untargeted_face_scraping = (
        "untargeted_face_scraping",
        "Untargeted scraping of facial images to build facial recognition databases",
    )
    emotion_recognition_work_education = (
        "emotion_recognition_work_education",
        "Emotion recognition in the workplace or in education",
    )
    biometric_categorisation_sensitive = (
        "biometric_categorisation_sensitive",
        "Biometric categorisation inferring sensitive characteristics (race, religion, ...)",
    )
    realtime_remote_biometric_id_law_enforcement = (
        "realtime_remote_biometric_id_law_enforcement",
        "Real-time remote biometric identification in public spaces for law enforcement",
    )


class HighRiskArea(_Labelled):
    """High-risk areas of the EU AI Act, Annex III, and `none`."""

    none = "none", "None of the high-risk areas"
    biometrics = "biometrics", "Biometrics"
    critical_infrastructure = "critical_infrastructure", "Critical infrastructure"
    education = "education", "Education and vocational training"
    employment = "employment", "Employment and workers management"
    essential_services = "essential_services", "Access to essential private and public services"
    law_enforcement = "law_enforcement", "Law enforcement"
    migration_border = "migration_border", "Migration, asylum and border control"
    justice_democracy = "justice_democracy", "Administration of justice and democratic processes"


class LegalBasis(_Labelled):
    """Lawful bases for processing personal data, GDPR Art. 6(1)."""

    consent = "consent", "Consent"
    contract = "contract", "Performance of a contract"
    legal_obligation = "legal_obligation", "Legal obligation"
    vital_interests = "vital_interests", "Vital interests"
    public_task = "public_task", "Public task"
    legitimate_interests = "legitimate_interests", "Legitimate interests"


class DataSource(Frozen):
    name: str
    licence: str = ""


class EthicsAssessment(Frozen):
    """The applicant's ethics self-assessment (EU AI Act and GDPR)."""

    intended_use: str = ""
    prohibited_practices: tuple[ProhibitedPractice, ...] = ()
    high_risk_area: HighRiskArea = HighRiskArea.none
    mitigation_plan: str = ""
    personal_data: bool = False
    legal_basis: LegalBasis | None = None
    data_sources: tuple[DataSource, ...] = ()
    transparency_acknowledged: bool = False


class Request(Frozen):
    """Compute hours asked for (or granted) on one partition."""

    partition: str
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0


class ProposalDraft(Frozen):
    """A proposal as the applicant wrote it, complete or not."""

    applicant: str = ""
    applicant_type: ApplicantType
    access_mode: str  # the code of one of the site's modes (`AccessSettings.modes`)
    length_months: int | None = None
    title: str = ""
    abstract: str = ""
    organisation: str = ""
    requests: tuple[Request, ...] = ()
    software: str = ""
    open_results: bool = False
    academic_partner: str = ""
    public_funding: bool = False
    ethics: EthicsAssessment | None = None


class PartitionInfo(Frozen):
    """What the policy needs to know about one of the site's partitions."""

    name: str
    has_gpus: bool
