"""Strict copies of contract types (contracts.strict): strict at the edge, lenient on the bus."""

from __future__ import annotations

import msgspec
import pytest

from conveyor.contracts.jobs import (
    AnyJobRequest,
    AwardFilters,
    ExportRequest,
    JobEnvelope,
    SearchRequest,
)
from conveyor.contracts.strict import strict_type


def test_a_strict_copy_refuses_an_unknown_field_at_any_depth() -> None:
    strict = strict_type(SearchRequest)
    for body, path in [
        (b'{"qeury": "x"}', "`qeury`"),
        (b'{"filters": {"region": ["NCR"]}}', "`region` - at `$.filters`"),
        (b'{"filters": {"value_range": {"minimum": 1}}}', "`$.filters.value_range`"),
        (b'{"sort": [{"column": "region", "desc": true}]}', "`$.sort[0]`"),
    ]:
        with pytest.raises(msgspec.ValidationError, match="unknown field") as caught:
            msgspec.json.decode(body, type=strict)
        assert path in str(caught.value)


def test_a_strict_copy_keeps_defaults_bounds_tags_and_checks() -> None:
    strict = strict_type(ExportRequest)
    decoded = msgspec.json.decode(b'{"format": "csv"}', type=strict)
    assert isinstance(decoded, ExportRequest)
    assert decoded.filters == AwardFilters() and decoded.sort == []
    assert strict.__struct_config__.tag == "export"
    with pytest.raises(msgspec.ValidationError, match="must not be before"):
        msgspec.json.decode(
            b'{"filters": {"time_ranges": [{"start": "2024-02-01", "end": "2024-01-01"}]}}',
            type=strict,
        )
    with pytest.raises(msgspec.ValidationError, match=r"\$\.filters\.value_range\.max"):
        msgspec.json.decode(b'{"filters": {"value_range": {"max": 1e30}}}', type=strict)


def test_a_strict_union_still_dispatches_on_the_tag() -> None:
    strict = strict_type(AnyJobRequest)
    decoded = msgspec.json.decode(b'{"type": "search", "query": "road"}', type=strict)
    assert isinstance(decoded, SearchRequest) and decoded.query == "road"
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"type": "search", "qeury": "road"}', type=strict)


def test_bus_messages_stay_lenient_for_rolling_deploys() -> None:
    body = (
        b'{"request": {"type": "export", "filters": {"areas": ["NCR"], "new_filter": 1},'
        b' "new_field": true}, "owner": "ana", "added_later": 1}'
    )
    envelope = msgspec.json.decode(body, type=JobEnvelope)
    assert isinstance(envelope.request, ExportRequest)
    assert envelope.request.filters.areas == ["NCR"]
    assert not ExportRequest.__struct_config__.forbid_unknown_fields
