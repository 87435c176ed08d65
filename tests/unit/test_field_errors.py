"""The features' field refusals share one shape (`core.errors.FieldError`): the hub and the
widgets show "<field>: <message>", and callers catch each feature's own subclass."""

from __future__ import annotations

import pytest

from aifactory_hub.core.errors import FieldError
from aifactory_hub.data.staging import StagingError
from aifactory_hub.environments.build import BuildError
from aifactory_hub.environments.register import RegisterError
from aifactory_hub.site.sessions import OptionError

KINDS = (StagingError, BuildError, RegisterError, OptionError)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_each_refusal_names_its_field_and_says_why(kind):
    exc = kind("cpus", "must be 1 to 8")
    assert isinstance(exc, FieldError) and isinstance(exc, ValueError)
    assert (exc.field, exc.message, str(exc)) == ("cpus", "must be 1 to 8", "cpus: must be 1 to 8")


def test_a_features_refusal_is_not_caught_as_anothers():
    with pytest.raises(BuildError):
        try:
            raise BuildError("name", "is required")
        except StagingError:  # pragma: no cover - the point is that this does not catch it
            pytest.fail("a BuildError was caught as a StagingError")
