"""The documented text folding and term splitting, written independently in plain Python.

For the tests' oracles: ``unicodedata`` and ``str`` methods, where the code under test uses
polars' kernels (conveyor.awards.folding).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def fold(text: str) -> str:
    """Lowercase, NFD with marks dropped, final sigma as sigma, whitespace runs as one space."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return " ".join(bare.replace("\u03c2", "\u03c3").split())


def terms(texts: Iterable[str]) -> list[str]:
    """Words and "quoted phrases" of the folded texts, blanks dropped, each once."""
    found: list[str] = []
    for text in texts:
        for phrase, word in re.findall(r'"([^"]*)"?|([^ ]+)', fold(text)):
            found.append(word or phrase.strip())
    return list(dict.fromkeys(t for t in found if t))


def matches(row: dict[str, object], wanted: list[str], columns: Iterable[str]) -> bool:
    """Every term occurs in at least one of the row's (folded, non-null) ``columns``."""
    texts = [fold(v) for c in columns if isinstance(v := row[c], str)]
    return all(any(t in text for text in texts) for t in wanted)
