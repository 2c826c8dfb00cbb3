"""CLI test fixtures: ``stack`` (a gateway process and a worker) is shared by the ops tests."""

from tests.cli._ops import stack_fixture  # noqa: F401 (the ``stack`` fixture, one per run)
