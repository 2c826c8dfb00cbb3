"""Library internals in one place each: no module touches a private attribute of redis-py,
hiredis, aiohttp, APScheduler or zipfile, or redis-py's connection-level API, outside that
library's boundary module (docs/architecture.md, Boundaries).

A module is checked for the libraries it imports. Flagged: ``obj._name`` or
``getattr(obj, "_name")`` on anything but ``self``/``cls``; in a class deriving from one of the
library's classes, ``self._name`` it does not define itself and ``_name`` methods (overrides of
the library's protected hooks); and, for redis-py, taking connections from a pool, packing or
reading replies by hand, or importing its connection modules or hiredis; for aiohttp, writing
to a connection's transport (past the WebSocket writer). Tests are not
scanned: they may reach in to inject faults.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("libs", "services", "cli", "dev", "bench")

BOUNDARIES: dict[str, tuple[str, ...]] = {
    "redis": ("libs/runtime/src/conveyor/runtime/transport/redis_",),
    "aiohttp": ("services/gateway/src/conveyor/gateway/ws/aiohttp_bridge.py",),
    "apscheduler": ("services/maintenance/src/conveyor/maintenance/apscheduler_bridge.py",),
    "zipfile": ("services/export-worker/src/conveyor/export_worker/zipfile_bridge.py",),
}
LIBRARY_OF = {"redis": "redis", "hiredis": "redis", "aiohttp": "aiohttp", "zipfile": "zipfile"}
LIBRARY_OF["apscheduler"] = "apscheduler"
REDIS_CONNECTION_LEVEL = {"get_connection", "send_packed_command", "read_response", "pack_command"}
REDIS_INTERNAL_MODULES = ("redis.connection", "redis.asyncio.connection", "redis._", "hiredis")


PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_make", "_SubParsersAction"}
"""Public despite the underscore: namedtuple's API; argparse's documented subparsers type."""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def _imports(tree: ast.Module) -> tuple[set[str], set[str], list[tuple[int, str]]]:
    """Libraries imported, names bound to their classes/modules, and internal-module imports."""
    libraries: set[str] = set()
    names: set[str] = set()
    internal: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            bound = [alias.asname or alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            bound = [alias.asname or alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            library = LIBRARY_OF.get(module.split(".")[0])
            if library is None:
                continue
            libraries.add(library)
            names.update(bound)
            if library == "redis" and module.startswith(REDIS_INTERNAL_MODULES):
                internal.append((node.lineno, f"imports {module}"))
    return libraries, names, internal


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name):
            names.add(base.id)
    return names


def _class_violations(node: ast.ClassDef) -> list[tuple[int, str]]:
    """In a subclass of a library class: its protected hooks and state it does not own."""
    own: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            own.add(item.name)
        elif isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store):
            own.add(item.attr)
    own.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    found = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _private(item.name):
            found.append((item.lineno, f"overrides {node.name}.{item.name}"))
    slots = {t for t in ast.walk(node) if isinstance(t, ast.Constant) and isinstance(t.value, str)}
    own.update(str(t.value) for t in slots)
    for item in ast.walk(node):
        if (
            isinstance(item, ast.Attribute)
            and isinstance(item.value, ast.Name)
            and item.value.id in ("self", "cls")
            and _private(item.attr)
            and isinstance(item.ctx, ast.Load)
            and item.attr not in own
        ):
            found.append((item.lineno, f"uses the library's self.{item.attr}"))
    return found


def violations(source: str) -> dict[str, list[tuple[int, str]]]:
    """Per library the module imports: the lines that reach below its public API."""
    tree = ast.parse(source)
    libraries, library_names, internal = _imports(tree)
    if not libraries:
        return {}
    found: list[tuple[int, str]] = []
    redis_found: list[tuple[int, str]] = list(internal)
    aiohttp_found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            receiver = node.value
            if _private(node.attr) and not (
                isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
            ):
                found.append((node.lineno, f"touches ._{node.attr.lstrip('_')}"))
            if node.attr in REDIS_CONNECTION_LEVEL and isinstance(node.ctx, ast.Load):
                redis_found.append((node.lineno, f"calls redis-py's {node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "write"
            and "transport" in ast.unparse(node.func.value).lower()
        ):
            aiohttp_found.append((node.lineno, "writes to a connection's transport"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
        elif isinstance(node, ast.ClassDef) and _base_names(node) & library_names:
            found.extend(_class_violations(node))
    result = {library: sorted(found) for library in libraries if found}
    if "redis" in libraries and redis_found:
        result["redis"] = sorted(result.get("redis", []) + redis_found)
    if "aiohttp" in libraries and aiohttp_found:
        result["aiohttp"] = sorted(result.get("aiohttp", []) + aiohttp_found)
    return result


def _modules() -> list[Path]:
    return sorted(
        p for top in SOURCES for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts
    )


def test_no_module_reaches_below_a_library_s_api_outside_its_boundary() -> None:
    offences = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        for library, lines in violations(path.read_text(encoding="utf-8")).items():
            if not relative.startswith(BOUNDARIES[library]):
                offences += [f"{relative}:{line}: {what} ({library})" for line, what in lines]
    assert not offences, "library internals outside their boundary:\n" + "\n".join(offences)


def test_every_boundary_module_exists() -> None:
    for library, prefixes in BOUNDARIES.items():
        for prefix in prefixes:
            matches = [p for p in _modules() if p.relative_to(ROOT).as_posix().startswith(prefix)]
            assert matches, f"{library}'s boundary {prefix} is gone: update BOUNDARIES"


@pytest.mark.parametrize(
    ("source", "library"),
    [
        ("import zipfile\ndef f(e): e._compressor = None", "zipfile"),
        (
            "from redis.asyncio import Redis\n"
            "async def f(r): await r.connection_pool.get_connection()",
            "redis",
        ),
        ("from hiredis import pack_command", "redis"),
        ("from redis.connection import HiredisRespSerializer", "redis"),
        ("from aiohttp import web\ndef f(ws): return getattr(ws, '_writer')", "aiohttp"),
        ("from aiohttp import web\ndef f(request): request.transport.write(b'x')", "aiohttp"),
        (
            "from apscheduler.executors.asyncio import AsyncIOExecutor\n"
            "class E(AsyncIOExecutor):\n    def _do_submit_job(self, job, times):\n"
            "        self._pending_futures.add(job)",
            "apscheduler",
        ),
    ],
)
def test_the_check_catches_each_kind_of_reach(source: str, library: str) -> None:
    assert violations(source).get(library)


def test_the_check_lets_public_use_and_own_state_through() -> None:
    source = (
        "from redis.asyncio import Redis\n"
        "class Store:\n    def __init__(self, r: Redis):\n        self._redis = r\n"
        "    async def get(self):\n        return await self._redis.get('k')\n"
    )
    assert violations(source) == {}
