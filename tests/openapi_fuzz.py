"""What a property-based fuzz of the factory service's OpenAPI description checks on every
answer (schemathesis), shared by the real-stack fuzz (tests/hub/test_api_fuzz.py) and the
in-process staff fuzz (tests/service/test_staff_fuzz.py)."""

from __future__ import annotations

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
