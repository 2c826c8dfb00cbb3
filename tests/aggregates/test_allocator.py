"""The worker's allocator settings hold even when its parent process imported polars."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl

from conveyor.aggregates_worker.allocator import VARIABLE, configure_allocator

# Allocates ~400 MB through polars, frees it, and prints the resident MB before and after.
_PROBE = """
from conveyor.aggregates_worker.allocator import configure_allocator
configure_allocator()
import numpy as np
import polars as pl

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmRSS"))

series = pl.Series(np.ones(50_000_000)) * 2
held = rss()
del series
print(held, rss())
"""


def test_the_worker_setting_comes_after_whatever_the_parent_handed_down() -> None:
    environ = {VARIABLE: "dirty_decay_ms:500,muzzy_decay_ms:1000"}
    configure_allocator(environ)
    assert environ[VARIABLE] == (
        "dirty_decay_ms:500,muzzy_decay_ms:1000,dirty_decay_ms:0,muzzy_decay_ms:0"
    )
    fresh: dict[str, str] = {}
    configure_allocator(fresh)
    assert fresh == {VARIABLE: "dirty_decay_ms:0,muzzy_decay_ms:0"}


def test_freed_memory_leaves_at_once_under_a_parent_that_imported_polars() -> None:
    assert pl is not None and VARIABLE in os.environ  # this process imported polars: it set it
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=os.environ, capture_output=True, text=True, check=True
    )
    held, after = map(int, done.stdout.split())
    assert held - after > 300, (held, after)
