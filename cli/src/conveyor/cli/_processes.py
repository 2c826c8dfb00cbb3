"""Local child processes run together, honcho-style: prefixed output, restarts, one stop for all.

Children start in their own session, so a Ctrl-C in the terminal reaches only ``conveyor dev``,
which then stops every child the same way: SIGTERM to the child, a grace period, then SIGKILL
to the child's whole process group (so helper processes it forked do not outlive it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

SYSTEM = "conveyor"
_COLORS = ("36", "33", "32", "35", "34", "91", "96", "93")  # cyan, yellow, green, magenta, ...
_READ_CHUNK = 65536


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]


@dataclass
class _Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    exited: asyncio.Task[int]
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class Printer:
    """Writes lines as ``name | text``, the name padded and, on a terminal, colored."""

    def __init__(self, names: Sequence[str], stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._width = max(len(n) for n in [SYSTEM, *names])
        color = self._stream.isatty() and "NO_COLOR" not in os.environ
        self._prefix: dict[str, str] = {}
        for i, name in enumerate([SYSTEM, *names]):
            label = name.ljust(self._width)
            code = "1" if name == SYSTEM else _COLORS[(i - 1) % len(_COLORS)]
            self._prefix[name] = f"\x1b[{code}m{label} |\x1b[0m " if color else f"{label} | "

    def line(self, name: str, text: str) -> None:
        prefix = self._prefix.get(name) or f"{name.ljust(self._width)} | "
        try:
            self._stream.write(prefix + text + "\n")
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            # Our reader went away (e.g. `conveyor dev | head`): keep supervising regardless.
            pass

    def system(self, text: str) -> None:
        self.line(SYSTEM, text)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class ProcessGroup:
    """Starts children, forwards their output through a ``Printer`` and stops them together."""

    def __init__(self, printer: Printer, *, grace: float) -> None:
        self._printer = printer
        self._grace = grace
        self._children: dict[str, _Child] = {}
        self._gone: list[_Child] = []
        """Children that exited and were replaced: their output may still be draining."""

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children.values()]

    def uptime(self, name: str) -> float:
        """Seconds since the child named ``name`` (last) started."""
        return time.monotonic() - self._children[name].started

    async def start(self, spec: ChildSpec) -> None:
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=dict(spec.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        child = _Child(spec, process, asyncio.create_task(process.wait()))
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            child.pumps.append(asyncio.create_task(self._pump(spec.name, stream)))
        previous = self._children.get(spec.name)
        if previous is not None:
            self._gone.append(previous)
        self._children[spec.name] = child

    async def restart(self, name: str) -> None:
        """Start the (exited) child named ``name`` again, with the same command."""
        await self.start(self._children[name].spec)

    async def first_exit(self) -> tuple[str, int]:
        """Wait until some child exits; its name and return code."""
        waiters = {c.exited: c for c in self._children.values()}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        child = waiters[next(iter(done))]
        return child.spec.name, child.exited.result()

    async def stop(self) -> None:
        """SIGTERM every running child, SIGKILL what is left after the grace period."""
        running = [c for c in self._children.values() if c.process.returncode is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        if running:
            names = ", ".join(c.spec.name for c in running)
            self._printer.system(f"sent SIGTERM to {names}; waiting up to {self._grace:g} s")
            _, pending = await asyncio.wait([c.exited for c in running], timeout=self._grace)
            for child in running:
                if child.exited in pending:
                    self._printer.system(
                        f"{child.spec.name} did not stop within {self._grace:g} s; killing it"
                    )
            self.kill()
            if pending:
                await asyncio.wait(pending)
        # Processes forked by a child may still hold its group (and its output pipes) open.
        self.kill()
        pumps = [p for c in [*self._gone, *self._children.values()] for p in c.pumps]
        if pumps:
            _, unfinished = await asyncio.wait(pumps, timeout=5)
            for pump in unfinished:
                pump.cancel()
        for child in self._children.values():
            outcome = describe_exit(child.exited.result())
            self._printer.system(f"{child.spec.name} stopped ({outcome})")

    def kill(self) -> None:
        """SIGKILL every child's process group now."""
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        # Chunked reads rather than readline(): a child may print a line longer than the
        # StreamReader limit, which readline() would turn into an error.
        pending = b""
        while chunk := await stream.read(_READ_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                self._printer.line(name, raw.decode(errors="replace").rstrip("\r"))
        if pending:
            self._printer.line(name, pending.decode(errors="replace").rstrip("\r"))
