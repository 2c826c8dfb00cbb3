"""How validation failures become error responses (conveyor.gateway.errors)."""

from __future__ import annotations

import msgspec
import pytest

from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import ExportRequest
from conveyor.gateway.errors import ServiceUnavailableError, from_msgspec


def _error(body: bytes) -> msgspec.MsgspecError:
    with pytest.raises(msgspec.MsgspecError) as excinfo:
        msgspec.json.decode(body, type=ExportRequest)
    return excinfo.value


def test_a_validation_error_names_the_json_path_of_the_field() -> None:
    error = from_msgspec(_error(b'{"filters": {"keywords": [""]}}'))
    assert error.status == 400
    assert error.field == "$.filters.keywords[0]"
    assert "at `" not in error.message


def test_broken_json_is_a_bad_request_without_a_field() -> None:
    error = from_msgspec(_error(b'{"filters": '))
    assert error.status == 400
    assert error.field is None
    assert error.message.startswith("body is not valid JSON")


def test_a_service_unavailable_error_carries_retry_after() -> None:
    error = ServiceUnavailableError("down", code=ErrorCode.BROKER_UNAVAILABLE, retry_after=7)
    assert error.headers == {"Retry-After": "7"}
    assert str(error) == "503 broker_unavailable: down"
