"""``conveyor schema`` prints the contracts' JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from conveyor.contracts.schema import json_schema
from tests.cli._run import conveyor


def test_the_schema_is_valid_json_with_every_contract_in_defs() -> None:
    result = conveyor("schema")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["$defs"]
    assert {"JobEnvelope", "JobRecord", "Event"} <= set(document["properties"])
    assert document == json.loads(json.dumps(json_schema()))


def test_the_schema_can_be_written_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "conveyor.schema.json"

    result = conveyor("schema", "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(out.read_text())["$defs"]
