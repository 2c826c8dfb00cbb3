"""The README stays true: its configuration table is the settings classes, its commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from conveyor.cli.settings import SECTIONS, markdown, rows
from conveyor.export_worker.settings import ExportSettings
from conveyor.runtime.settings import GatewaySettings, Settings, WorkerSettings, env_name

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TABLE = re.compile(r"<!-- settings:begin[^>]*-->\n(.*?)<!-- settings:end -->", re.DOTALL)


def _table() -> str:
    match = TABLE.search(README)
    assert match, "README.md has no <!-- settings:begin --> ... <!-- settings:end --> section"
    return match.group(1)


def test_the_readme_configuration_table_is_the_generated_one() -> None:
    assert _table() == markdown(), (
        "README.md's configuration table is out of date: replace it with the output of "
        "`uv run conveyor settings`"
    )


@pytest.mark.parametrize("cls", [Settings, WorkerSettings, GatewaySettings, ExportSettings])
def test_the_readme_lists_every_settings_field_with_its_default(cls: type[Settings]) -> None:
    table = _table()
    for field in msgspec.structs.fields(cls):
        assert f"| `{env_name(field.name)}` |" in table, f"{env_name(field.name)} is missing"


def test_every_documented_setting_says_what_it_means() -> None:
    vague = [r.variable for _, cls in SECTIONS for r in rows(cls) if not r.meaning.strip()]
    assert vague == [], (
        f"give these settings a docstring in conveyor.runtime.settings: {', '.join(vague)}"
    )


def test_the_readme_quick_start_names_the_two_commands_ci_runs_too() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv run conveyor dev" in README
    assert "uv run pytest" in README
    assert re.search(r"^uv run pytest\b", ci, re.MULTILINE), ".ci/run must run `uv run pytest`"


def test_the_readme_links_the_architecture_that_lives_in_the_repository() -> None:
    assert "(docs/architecture.md)" in README
    assert (ROOT / "docs" / "architecture.md").is_file()
