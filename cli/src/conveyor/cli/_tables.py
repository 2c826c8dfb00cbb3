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

ID_COLUMNS = frozenset({"job id", "id", "last job id"})
"""Columns of ids people copy into the next command: never folded over two lines (a folded
id pastes as two words), the other columns give way instead."""


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    for i, column in enumerate(columns):
        if column in ID_COLUMNS:
            widest = max((len(row[i]) for row in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")  # whole values, not cut to "vm-227…"
    for row in cells:
        table.add_row(*row)
    console.print(table)
