"""Entry point of ``conveyor``: builds the argument parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
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
)
# Subcommands that live in modules which may not exist yet (or in every install): registered
# only when importable.
OPTIONAL_SUBCOMMANDS = ("conveyor.cli.data",)


def _subcommand_modules() -> list[ModuleType]:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conveyor",
        description="Conveyor: background jobs as asyncio services over RabbitMQ and Redis.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in _subcommand_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
