"""Valid rows to start from; each test changes only what it is about."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aifactory_hub.store.models import Call, Project, Proposal

OPENS = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def call(**changes) -> Call:
    fields = dict(mode="fast_lane", title="Fast lane 2026", opens_at=OPENS, created_by="ada")
    return Call(**{**fields, **changes})


def proposal(of: Call, **changes) -> Proposal:
    fields = dict(
        call=of, applicant="alice", organisation="Alpha AI", applicant_type="startup",
        access_mode="fast_lane", title="Small LLM for radiology reports",
        requests=[{"partition": "gpu", "gpu_hours": 500.0, "cpu_hours": 0.0}],
    )  # fmt: skip
    return Proposal(**{**fields, **changes})


def project(**changes) -> Project:
    fields = dict(
        account="ai-alpha", title="Alpha", organisation="Alpha AI", pi="alice",
        access_mode="fast_lane", starts_on=date(2026, 4, 1), ends_on=date(2026, 9, 30),
    )  # fmt: skip
    return Project(**{**fields, **changes})
