"""A small generated dataset shared by the awards tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.awards.generator import GenerationReport, generate

SMALL_ROWS = 5_000


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    """5,000 generated awards in three files (chunks of 2,000)."""
    out: Path = tmp_path_factory.mktemp("awards-small")
    return generate(SMALL_ROWS, out, seed=7, chunk_rows=2_000, contractors=2_000)
