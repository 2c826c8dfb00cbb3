"""Property-based run of schemathesis against the served OpenAPI document.

A real gateway process (real RabbitMQ and Redis, test hooks off as in production) answers
generated requests, valid and invalid, for every documented operation as an admin (who
reaches every handler). No answer may be a 5xx, and every answer must match the document:
its status is documented, its body matches the schema, its content type is the declared one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from conveyor.runtime.tokens import ADMIN_ROLE, mint_token
from tests.gateway.helpers import SECRET
from tests.support.services import start_gateway

MAX_EXAMPLES = 15
"""Per operation; keeps the whole run well under a minute on a busy machine."""

ADMIN = {"Authorization": f"Bearer {mint_token(SECRET, 'schemathesis', roles=[ADMIN_ROLE])}"}


@pytest.fixture(scope="module")
async def served_gateway(module_namespace: str) -> AsyncIterator[str]:
    gateway, url = await start_gateway(
        module_namespace, CONVEYOR_JWT_SECRET=SECRET, CONVEYOR_TEST_HOOKS="false"
    )
    try:
        yield url
    finally:
        await gateway.stop()


@pytest.fixture(scope="module")
def api_schema(served_gateway: str) -> Any:
    return schemathesis.openapi.from_url(f"{served_gateway}/api/v1/openapi.json")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
"""Not ``positive_data_acceptance``: some schema-valid values are still refused by design
(opaque cursors, ``cron`` and ``interval_seconds`` together, unknown job ids)."""


def run_operation(operation: Any, mode: GenerationMode) -> None:
    """Hypothesis over one operation's generated cases; raises on the first failing check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        extra = [negative_data_rejection] if mode is GenerationMode.NEGATIVE else []
        case.call_and_validate(headers=ADMIN, checks=[*CHECKS, *extra])

    check()


# schemathesis' own pytest integration (``from_fixture``) does not run under pytest 9 yet, so
# each operation is driven through its Python API (``as_strategy``) instead.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    api_schema: Any, mode: GenerationMode
) -> None:
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30, "every documented operation is exercised"
    for operation in operations:
        try:
            run_operation(operation, mode)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.path  # nothing to get wrong
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == [], "\n\n".join(failures)
