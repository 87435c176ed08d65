"""What a property-based fuzz of the factory service's OpenAPI description checks on every
answer (schemathesis), shared by the real-stack fuzz (tests/hub/test_api_fuzz.py) and the
in-process staff fuzz (tests/service/test_staff_fuzz.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# No 5xx; only the statuses, content types and bodies (the error schema) the document lists.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

EXAMPLES = 25  # per operation: about 60 operations x 25 examples in about 2 minutes

# Hypothesis as both fuzzes run it: EXAMPLES generated cases (after the document's examples),
# no deadline or example database (a hub round trip varies; runs must not depend on earlier
# ones), and no health check (a strategy with many rejected cases is the point here).
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def any_case(operation) -> st.SearchStrategy:
    """The operation's cases, valid and invalid (every schemathesis generation mode)."""
    return st.one_of(operation.as_strategy(generation_mode=mode) for mode in GenerationMode)
