"""The aggregates service's errors: one base class, subclasses carrying what went wrong."""

from __future__ import annotations


class AggregatesError(Exception):
    """Base of the aggregates service's errors."""


class ComputationCancelledError(AggregatesError):
    """A computation stopped between two steps because nobody waits for it any more."""

    def __init__(self, step: str) -> None:
        super().__init__(f"computation cancelled before {step!r}")
        self.step = step
