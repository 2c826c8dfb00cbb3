"""Fixtures of the observability tests: a small awards dataset for export jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.awards.generator import generate


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a small generated awards dataset (exports run on it)."""
    root = tmp_path_factory.mktemp("observability-data")
    generate(600, root / "awards", seed=7, chunk_rows=300)
    return root
