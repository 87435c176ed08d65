"""Price of access, by the access mode's term for the applicant's type (site data): free for
eligible start-ups and SMEs in the industrial modes and for publicly funded research; industry
free when it publishes its results openly or works with an academic partner; otherwise charged
per GPU-hour and CPU-hour at the centre's rates. Money is Decimal, rounded to cents."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from aifactory_hub.policy.model import ApplicantType, Frozen
from aifactory_hub.policy.settings import AccessSettings, ModeSettings, Rates

CENT = Decimal("0.01")
_RESEARCH = (ApplicantType.academia, ApplicantType.public_research)


def in_sentence(applicant_type: ApplicantType) -> str:
    """A type's label inside a sentence: "start-up or SME", "industry" (acronyms kept)."""
    label = applicant_type.label
    return label[:1].lower() + label[1:]


class PriceDecision(Frozen):
    """Whether access is charged, why, and what the applicant promises in return (if anything)."""

    charged: bool
    reason: str
    obligation: str = ""


def price(
    applicant_type: ApplicantType,
    mode: ModeSettings,
    public_funding: bool,
    open_results: bool,
    academic_partner: str,
    *,
    due: date | None = None,
) -> PriceDecision:
    """The price of a proposal in access mode `mode`, by the mode's term for its applicant
    type: `free`; `open_or_partner` (free for publicly funded research, with an academic
    partner, or with results published openly, else charged); `charged`.

    `due` is the date the open-results link is due (see `obligation_due`); before the
    allocation's dates are known it may be left out.
    """
    term = mode.price.get(applicant_type, "charged")
    if term == "free":
        return PriceDecision(
            charged=False,
            reason=f"Free: {mode.label} access is free for {in_sentence(applicant_type)} "
            "applicants.",
        )
    if term == "open_or_partner":
        if applicant_type in _RESEARCH and public_funding:
            return PriceDecision(
                charged=False, reason="Free: publicly funded research and innovation."
            )
        partner = academic_partner.strip()
        if partner:
            return PriceDecision(
                charged=False, reason=f"Free: work done with academic partner {partner}."
            )
        if open_results:
            when = f"by {due.isoformat()}" if due else "after the allocation ends"
            return PriceDecision(
                charged=False,
                reason="Free: the results will be published openly.",
                obligation=f"publish results openly (link due {when})",
            )
        return PriceDecision(
            charged=True,
            reason="Charged per GPU-hour and CPU-hour at the centre's rates: results are not "
            "published openly and there is no academic partner.",
        )
    return PriceDecision(
        charged=True,
        reason=f"Charged per GPU-hour and CPU-hour at the centre's rates: {mode.label} access "
        f"is pay-per-use for {in_sentence(applicant_type)} applicants.",
    )


def charge(gpu_hours: float, cpu_hours: float, rates: Rates) -> Decimal:
    """Amount due for the hours at `rates`, rounded half up to cents once, on the total."""
    if gpu_hours < 0 or cpu_hours < 0:
        raise ValueError("hours cannot be negative")
    # str() keeps the decimal the number was written as (0.1, not 0.1000000000000000055...).
    gpu = Decimal(str(gpu_hours)) * Decimal(str(rates.gpu_hour_eur))
    cpu = Decimal(str(cpu_hours)) * Decimal(str(rates.cpu_hour_eur))
    total = gpu + cpu
    return total.quantize(CENT, rounding=ROUND_HALF_UP)


def obligation_due(allocation_end: date, settings: AccessSettings) -> date:
    """When the link to the openly published results is due."""
    return allocation_end + timedelta(days=settings.open_results_due_days)


def obligation_overdue(due: date, fulfilled: bool, today: date) -> bool:
    """True once the due date has passed without the results being published."""
    return not fulfilled and today > due
