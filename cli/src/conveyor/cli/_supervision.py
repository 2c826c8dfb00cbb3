"""Keeps ``conveyor dev``'s children running: one that exits is started again after a backoff.

A worker drained from the page or the CLI, or one that crashed, comes back on its own and the
rest of the stack stays up. Only a configuration error (exit code 2, what every service exits
with on a bad setting) stops everything, since starting again cannot fix it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from conveyor.cli._processes import Printer, ProcessGroup, describe_exit

CONFIG_ERROR = 2


@dataclass
class Backoff:
    """Restart delays per child: ``first`` doubling up to ``cap``; reset by a stable run."""

    first: float = 1.0
    cap: float = 30.0
    stable_after: float = 30.0
    """A child that ran this long before exiting starts again after ``first``."""
    _next: dict[str, float] = field(default_factory=dict)

    def delay(self, name: str, uptime: float) -> float:
        if uptime >= self.stable_after:
            self._next.pop(name, None)
        delay = self._next.get(name, self.first)
        self._next[name] = min(self.cap, delay * 2)
        return delay


async def supervise(
    group: ProcessGroup, printer: Printer, stop: asyncio.Event, backoff: Backoff
) -> str | None:
    """Restart exiting children until ``stop`` is set; returns the name of a child that
    exited with a configuration error (the caller then stops the others), else ``None``."""
    while True:
        exited = asyncio.create_task(group.first_exit())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # A stop request wins over a child exiting at the same moment.
        if stop.is_set():
            exited.cancel()
            return None
        name, returncode = exited.result()
        if returncode == CONFIG_ERROR:
            printer.system(
                f"{name} exited with a configuration error ({describe_exit(returncode)}); "
                "stopping the others"
            )
            return name
        delay = backoff.delay(name, group.uptime(name))
        printer.system(f"{name} exited ({describe_exit(returncode)}); restarting it in {delay:g} s")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
        if stop.is_set():
            return None
        await group.restart(name)
        printer.system(f"{name} restarted")
