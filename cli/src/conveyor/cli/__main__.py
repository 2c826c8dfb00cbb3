"""Entry point of ``conveyor``: builds the argument parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from types import ModuleType

# Each module exposes ``register(subparsers)``, which adds its parser with
# ``set_defaults(func=run)``; ``run(args) -> int`` is the exit code.
SUBCOMMANDS = (
    "conveyor.cli.dev",
    "conveyor.cli.token",
    "conveyor.cli.schema",
    "conveyor.cli.settings",
    "conveyor.cli.jobs",
    "conveyor.cli.workers",
    "conveyor.cli.queues",
    "conveyor.cli.dead_letters",
    "conveyor.cli.job_types",
    "conveyor.cli.stats",
    "conveyor.cli.schedules",
)
# Subcommands that live in modules which may not exist yet (or in every install): registered
# only when importable.
OPTIONAL_SUBCOMMANDS = ("conveyor.cli.data",)


def _subcommand_modules(only: str | None = None) -> list[ModuleType]:
    if only is not None:
        return [importlib.import_module(only)]
    modules = [importlib.import_module(name) for name in SUBCOMMANDS]
    for name in OPTIONAL_SUBCOMMANDS:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            # Only the module itself being absent is tolerated; a missing dependency inside it
            # is a real error and should surface.
            if exc.name != name:
                raise
    return modules


def _module_of(argv: Sequence[str]) -> str | None:
    """The module of the command ``argv`` names first (``dead-letters`` -> ``dead_letters``):
    importing only it keeps ``conveyor jobs list`` from importing polars for ``data``."""
    if not argv or argv[0].startswith("-"):
        return None
    name = f"conveyor.cli.{argv[0].replace('-', '_')}"
    return name if name in (*SUBCOMMANDS, *OPTIONAL_SUBCOMMANDS) else None


def version() -> str:
    """The installed ``conveyor-cli`` package's version."""
    try:
        return importlib.metadata.version("conveyor-cli")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conveyor",
        description="Conveyor: background jobs as asyncio services over RabbitMQ and Redis.",
    )
    parser.add_argument("--version", action="version", version=f"conveyor {version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in _subcommand_modules(only):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if list(argv) == ["--version"]:  # at once: without importing every subcommand (polars)
        print(f"conveyor {version()}")
        return 0
    args = build_parser(_module_of(argv)).parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
