"""``conveyor data generate``, as compose's dataset step runs it (``--if-missing``)."""

from __future__ import annotations

from pathlib import Path

from conveyor.awards.schema import count_rows, dataset_version
from tests.cli._run import conveyor


def _generate(out: Path, rows: int, *extra: str) -> tuple[int, str, str]:
    result = conveyor("data", "generate", "--rows", str(rows), "--out", str(out), *extra)
    return result.returncode, result.stdout, result.stderr


def test_if_missing_generates_into_an_empty_directory_then_keeps_what_is_there(
    tmp_path: Path,
) -> None:
    out = tmp_path / "awards"

    code, stdout, stderr = _generate(out, 500, "--if-missing")
    assert code == 0, stderr
    assert count_rows(out) == 500
    version = dataset_version(out)

    code, stdout, stderr = _generate(out, 800, "--if-missing")
    assert code == 0, stderr
    assert "kept" in stdout
    assert count_rows(out) == 500  # the first dataset stands: nothing was rewritten
    assert dataset_version(out) == version


def test_without_if_missing_an_existing_dataset_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "awards"
    assert _generate(out, 300)[0] == 0

    code, _, stderr = _generate(out, 300)

    assert code == 2
    assert "--overwrite" in stderr
