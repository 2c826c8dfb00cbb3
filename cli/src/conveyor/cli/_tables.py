"""Rendering API answers as rich tables (plain text when stdout is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 240)
"""stdout; rich drops colours and animation by itself when it is not a terminal (and then
gets a wide line, so ids in tables are not wrapped for whoever parses the output)."""


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")  # ids whole, not cut to "vm-227…"
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)
