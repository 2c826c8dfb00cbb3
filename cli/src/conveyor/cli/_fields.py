"""Building a job request body from ``--body`` and ``--set key=value`` options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conveyor.cli._gateway import CliUsageError


def parse_body(raw_json: str | None, assignments: list[str]) -> dict[str, Any]:
    """``--body '{...}'`` (or ``@file.json``), then each ``--set a.b=value`` on top.

    A value is read as JSON when it parses (numbers, lists, true) and as a string otherwise,
    so ``--set format=csv`` and ``--set numbers=[1,2]`` both do what they look like.
    """
    body: dict[str, Any] = {}
    if raw_json:
        text = raw_json
        if raw_json.startswith("@"):
            try:
                text = Path(raw_json[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise CliUsageError(f"--body {raw_json}: {exc.strerror}") from None
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise CliUsageError(f"--body is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliUsageError("--body must be a JSON object")
        body = loaded
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise CliUsageError(f"--set wants key=value, not {assignment!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        target = body
        *parents, leaf = key.split(".")
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise CliUsageError(f"--set {key}: {part!r} is not an object")
            target = child
        target[leaf] = value
    return body
