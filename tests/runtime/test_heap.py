"""Freezing the startup heap: what exists then leaves the collected generations."""

from __future__ import annotations

import gc

from conveyor.runtime.heap import freeze_startup_heap


def test_the_startup_heap_is_frozen_and_later_objects_are_not() -> None:
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen > before
        assert sum(gc.get_count()) < 50  # collected first: nothing young is left behind
        later = [[i] for i in range(1000)]
        assert gc.get_freeze_count() == frozen  # new objects are collected as usual
        assert later
    finally:
        gc.unfreeze()
