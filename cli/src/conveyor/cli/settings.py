"""``conveyor settings``: the ``CONVEYOR_*`` reference, generated from the settings classes.

The README's configuration table is this command's output; ``tests/cli/test_readme.py`` fails
when they drift apart. Meanings come from the field docstrings in ``conveyor.runtime.settings``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from conveyor.aggregates_worker.settings import AggregatesSettings
from conveyor.export_worker.settings import ExportSettings
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime import settings as runtime_settings
from conveyor.runtime.settings import (
    GatewaySettings,
    Settings,
    SettingsError,
    WorkerSettings,
    check_jwt_secret,
    env_name,
    load_settings,
)

SECTIONS: tuple[tuple[str, type[Settings]], ...] = (
    ("Every process", Settings),
    ("Workers (maintenance, export-worker, aggregates-worker)", WorkerSettings),
    ("Gateway", GatewaySettings),
    ("Export worker", ExportSettings),
    ("Maintenance (scheduler and maintenance jobs)", MaintenanceSettings),
    ("Aggregates worker", AggregatesSettings),
)


@dataclass(frozen=True)
class Row:
    variable: str
    default: str
    meaning: str


def field_docs(cls: type[Settings]) -> dict[str, str]:
    """The attribute docstrings (a string right after a field) of ``cls``, first lines joined."""
    tree = ast.parse(inspect.getsource(sys.modules[cls.__module__]))
    docs: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == cls.__name__):
            continue
        for field_node, after in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field_node, ast.AnnAssign)
                and isinstance(field_node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                text = " ".join(inspect.cleandoc(after.value.value).split())
                # reST literals to Markdown ones; a bare "|" would end the table cell.
                docs[field_node.target.id] = text.replace("``", "`").replace("|", "\\|")
    return docs


def rows(cls: type[Settings]) -> list[Row]:
    """The fields ``cls`` adds to its base (all fields for ``Settings``), in declared order."""
    base = cls.__mro__[1]
    inherited = set() if cls is Settings else {f.name for f in msgspec.structs.fields(base)}
    docs = field_docs(cls)
    return [
        Row(env_name(f.name), _default(f), docs.get(f.name, ""))
        for f in msgspec.structs.fields(cls)
        if f.name not in inherited
    ]


def markdown() -> str:
    parts: list[str] = []
    for title, cls in SECTIONS:
        parts += [f"**{title}** (`{cls.__name__}`)", "", "| Variable | Default | Meaning |"]
        parts.append("|---|---|---|")
        parts += [f"| `{r.variable}` | {r.default} | {r.meaning} |" for r in rows(cls)]
        parts.append("")
    return "\n".join(parts)


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.default_factory is not msgspec.NODEFAULT:
        if field.default_factory is runtime_settings.default_instance:
            return "`<hostname>-<pid>`"
        value: Any = field.default_factory()
    else:
        value = field.default
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value) or "(empty)"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, Path):
        return f"`{value.as_posix() if value.is_absolute() else './' + value.as_posix()}`"
    return f"`{value}`"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "settings",
        help="print the CONVEYOR_* settings reference",
        description="Print every CONVEYOR_* variable with its default and meaning (Markdown), "
        "or with --check, validate the current environment.",
    )
    parser.add_argument(
        "--check", action="store_true", help="load every settings class from the environment"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.check:
        sys.stdout.write(markdown())
        return 0
    try:
        for _, cls in SECTIONS:
            load_settings(cls, os.environ)
        check_jwt_secret(load_settings(GatewaySettings, os.environ))  # as the gateway will
    except SettingsError as exc:
        print(f"conveyor settings: {exc}", file=sys.stderr)
        return 1
    print("settings: ok")
    return 0
