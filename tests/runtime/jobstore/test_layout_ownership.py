"""Only the job store builds the record's key names: every other module goes through its methods."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src"), ROOT / "cli", ROOT / "bench"]
OWNERS = {
    Path("libs/runtime/src/conveyor/runtime/jobstore"),
    Path("libs/contracts/src/conveyor/contracts/keys.py"),
}
RECORD_KEY = re.compile(
    r"\.(?:job_events|owner_jobs|owner_events|all_jobs|active_jobs)\b"
    r"|\b\w*keys\w*\.(?:job|idempotency)\("
)


def _owned(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == owner or owner in relative.parents for owner in OWNERS)


def _is_import(line: str) -> bool:
    # A module path such as ``conveyor.runtime.worker.job_events`` is not a key.
    return line.lstrip().startswith(("from ", "import "))


def test_no_module_outside_the_job_store_names_a_record_key() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for source in SOURCES
        for path in sorted(source.rglob("*.py"))
        if not _owned(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if RECORD_KEY.search(line) and not _is_import(line)
    ]
    assert offenders == []


def test_the_check_finds_a_record_key() -> None:
    assert RECORD_KEY.search("rows = await redis.xrevrange(store.keys.owner_events(owner))")
    assert RECORD_KEY.search("pipe.delete(keys.job(job_id))")
    assert not RECORD_KEY.search("await store.latest_owner_cursor(owner)")
    assert _is_import("from conveyor.runtime.worker.job_events import job_event")
