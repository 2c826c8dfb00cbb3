"""``--body`` and ``--set`` build a job request body (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.cli._fields import parse_body
from conveyor.cli._gateway import CliUsageError


def test_set_values_are_json_when_they_parse_and_strings_otherwise() -> None:
    body = parse_body(None, ["numbers=[1,2]", "format=csv", "steps=3", "flag=true", "name=3x"])
    assert body == {"numbers": [1, 2], "format": "csv", "steps": 3, "flag": True, "name": "3x"}


def test_dotted_keys_nest_and_set_overrides_the_body(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text('{"format": "xlsx", "filters": {"areas": ["NCR"]}}')
    body = parse_body(f"@{path}", ["format=csv", 'filters.keywords=["road"]'])
    assert body == {"format": "csv", "filters": {"areas": ["NCR"], "keywords": ["road"]}}


@pytest.mark.parametrize(
    ("raw", "sets", "message"),
    [
        ("[1]", [], "must be a JSON object"),
        ("{nope", [], "not valid JSON"),
        ("@/no/such/file.json", [], "--body @/no/such/file.json"),
        (None, ["novalue"], "key=value"),
        ('{"a": 1}', ["a.b=2"], "'a' is not an object"),
    ],
)
def test_bad_input_is_a_usage_error_saying_why(
    raw: str | None, sets: list[str], message: str
) -> None:
    with pytest.raises(CliUsageError, match=message.replace("[", r"\[")):
        parse_body(raw, sets)
