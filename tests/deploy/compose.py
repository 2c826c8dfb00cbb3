"""Reading docker-compose.yml as Compose does: ``.env`` files and ``${VAR}`` interpolation.

No Docker engine runs here, so the tests resolve the file themselves, with the rules of the
Compose specification's interpolation section: ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}``, ``$$``,
nested (``${VAR:-${OTHER}}``); ``.env`` values are interpolated too (unquoted values only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


class MissingVariableError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset (or empty), as ``docker compose`` fails."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"required variable {name} is missing a value: {message}")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a Compose ``.env`` file; ``#`` comments and blank lines skipped.

    Values are interpolated with the lines above them, as Compose does for unquoted values.
    """
    return parse_env_lines(path.read_text(encoding="utf-8").splitlines(), name=path.name)


def parse_env_lines(lines: list[str], *, name: str = ".env") -> dict[str, str]:
    env: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _NAME.fullmatch(key):
            raise ValueError(f"{name}:{number}: not a KEY=VALUE line: {line!r}")
        env[key] = interpolate(value, env)
    return env


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with its variables substituted; a default or message is itself interpolated
    (nested), and only when it is used."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 1)
            out.append(_substitute(text[i + 2 : end], env))
            i = end + 1
        elif bare := _NAME.match(text, i + 1):
            out.append(env.get(bare.group(), ""))
            i = bare.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing_brace(text: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unclosed ${{ in {text!r}")


def _substitute(expression: str, env: Mapping[str, str]) -> str:
    match = _BRACED.fullmatch(expression)
    if match is None:
        raise ValueError(f"not a Compose variable: ${{{expression}}}")
    name, op, arg = match["name"], match["op"], match["arg"] or ""
    value = env.get(name)
    unset = value is None or (op is not None and op.startswith(":") and value == "")
    match op:
        case ":-" | "-":
            return interpolate(arg, env) if unset else str(value)
        case ":?" | "?":
            if unset:
                raise MissingVariableError(name, interpolate(arg, env))
            return str(value)
        case ":+" | "+":
            return "" if unset else interpolate(arg, env)
    return value or ""


def _resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """docker-compose.yml with YAML anchors merged and every value interpolated from ``env``."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    resolved: dict[str, Any] = _resolve(raw, env)
    return resolved


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping (Compose also allows a ``KEY=VALUE`` list)."""
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}
