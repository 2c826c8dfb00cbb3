"""The filter rules are written once (filter_semantics) and shown unchanged everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from conveyor.contracts.filter_semantics import (
    FIELD_RULES,
    FILTERS_DESCRIPTION,
    SECTIONS,
    render_markdown,
)
from conveyor.contracts.jobs import AwardFilters, ExportRequest
from conveyor.contracts.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]


def _award_filters_schema() -> dict[str, Any]:
    _, components = msgspec.json.schema_components([ExportRequest])
    schema: dict[str, Any] = components["AwardFilters"]
    return schema


def test_the_checked_in_docs_page_is_the_rendered_rules() -> None:
    # Regenerate with: uv run python -c "from conveyor.contracts.filter_semantics import
    #   render_markdown; print(render_markdown(), end='')" > docs/filters.md
    assert (ROOT / "docs" / "filters.md").read_text(encoding="utf-8") == render_markdown()


def test_the_readme_and_design_notes_link_the_docs_page() -> None:
    assert "docs/filters.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_schema_describes_every_filter_with_its_rule() -> None:
    schema = _award_filters_schema()
    assert schema["description"] == FILTERS_DESCRIPTION
    properties = schema["properties"]
    assert set(properties) == set(AwardFilters.__struct_fields__) == set(FIELD_RULES)
    for name, rule in FIELD_RULES.items():
        assert properties[name]["description"] == rule, name
    # The exported JSON Schema (``conveyor schema``) carries the same texts.
    assert json_schema()["$defs"]["AwardFilters"]["description"] == FILTERS_DESCRIPTION


def test_every_section_is_a_paragraph_of_the_description_and_the_docs() -> None:
    paragraphs = FILTERS_DESCRIPTION.split("\n\n")
    markdown = render_markdown()
    for title, text in SECTIONS.items():
        assert f"{title}: {text}" in paragraphs
        assert f"## {title}\n\n{text}\n" in markdown
    for name, rule in FIELD_RULES.items():
        assert f"| `{name}` | {rule} |" in markdown
