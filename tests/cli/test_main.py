"""The ``conveyor`` parser: every subcommand module registers, the optional ones when present."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import types
from typing import Any

import pytest

from conveyor.cli.__main__ import OPTIONAL_SUBCOMMANDS, build_parser, main
from tests.cli._run import conveyor


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def test_the_parser_has_the_built_in_subcommands() -> None:
    assert {"dev", "token", "schema", "settings"} <= _commands(build_parser())


def test_an_optional_subcommand_module_is_registered_once_it_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (name,) = OPTIONAL_SUBCOMMANDS
    module = types.ModuleType(name)

    def register(subparsers: argparse._SubParsersAction[Any]) -> None:
        subparsers.add_parser("data").set_defaults(func=lambda args: 7)

    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)

    assert "data" in _commands(build_parser())
    assert main(["data"]) == 7


def test_an_absent_optional_subcommand_module_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    (name,) = OPTIONAL_SUBCOMMANDS
    monkeypatch.setitem(sys.modules, name, None)  # makes the import fail as if it did not exist

    assert "data" not in _commands(build_parser())


def test_conveyor_without_a_command_prints_usage_and_fails() -> None:
    result = conveyor()

    assert result.returncode == 2
    assert "usage: conveyor" in result.stderr


def test_version_prints_the_installed_package_version() -> None:
    result = conveyor("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conveyor {importlib.metadata.version('conveyor-cli')}"


def test_version_is_also_an_option_of_the_full_parser() -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
