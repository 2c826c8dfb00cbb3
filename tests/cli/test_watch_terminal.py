"""``conveyor jobs watch`` in a real terminal (tmux), the way a person sees it: one row per job
with its whole id, type, state and labelled run time, and a summary (never JSON) at the end."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tests.cli._ops import Stack, cli
from tests.cli._run import CONVEYOR

DONE = "__watch-exited__"


@dataclass(frozen=True)
class Terminal:
    socket: str
    session: str

    async def tmux(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode()

    async def screen(self) -> str:
        return await self.tmux("capture-pane", "-p", "-t", self.session)

    async def wait_for(self, seen: Callable[[str], bool], timeout: float = 30) -> str:
        """The screen once ``seen`` holds for it (polling: tmux has no change notification)."""
        screen = ""
        try:
            async with asyncio.timeout(timeout):
                while not seen(screen := await self.screen()):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"the screen never showed it:\n{screen}") from None
        return screen


@pytest.fixture
async def terminal() -> AsyncIterator[Terminal]:
    assert shutil.which("tmux"), "install tmux (apt-get install -y tmux)"
    term = Terminal(f"conveyor-test-{uuid.uuid4().hex[:8]}", "watch")
    yield term
    # Only this test's own tmux server (its private socket) is stopped.
    await term.tmux("kill-server")


async def _run_in(terminal: Terminal, env: dict[str, str], *args: str, width: int) -> None:
    command = shlex.join([*CONVEYOR, *args])
    # The test run exports COLUMNS/LINES (80x24), which would override the pane's real size.
    script = f"unset COLUMNS LINES; {command}; echo {DONE} $?; sleep 600"
    await terminal.tmux(
        "new-session", "-d", "-s", terminal.session, "-x", str(width), "-y", "20",
        *(f"-e{k}={v}" for k, v in env.items() if k.startswith("CONVEYOR_")),
        "-e", "TERM=xterm-256color",
        "sh", "-c", script,
    )  # fmt: skip


def _row(screen: str, job_id: str) -> str:
    rows = [line for line in screen.splitlines() if job_id in line]
    return rows[-1] if rows else ""


@pytest.mark.parametrize("width", [160, 100])
async def test_watch_shows_whole_ids_states_and_labelled_times_then_summaries(
    stack: Stack, terminal: Terminal, width: int
) -> None:
    env = stack.env(f"viewer-{uuid.uuid4().hex[:6]}")
    quick = await cli("jobs", "submit", "diagnostics", "--set", "numbers=[1,2]", "--watch", env=env)
    done_id = quick.out.splitlines()[0]
    slow = await cli(
        "jobs", "submit", "diagnostics",
        "--set", "numbers=[3,4]", "--set", "sleep_seconds=4", "--set", "steps=40",
        env=env,
    )  # fmt: skip
    slow_id = slow.out.strip()

    await _run_in(terminal, env, "jobs", "watch", slow_id, done_id, width=width)
    live = await terminal.wait_for(lambda s: " running " in _row(s, slow_id))
    row = _row(live, slow_id)
    assert slow_id in row  # whole, on one line: it can be copied
    assert "diagnostics" in row and "/40" in row
    assert " ran 0:00:0" in row
    assert "succeeded" in _row(live, done_id)

    final = await terminal.wait_for(lambda s: DONE in s)
    assert f"{DONE} 0" in final
    assert "succeeded" in _row(final, slow_id) and "40/40" in _row(final, slow_id)
    assert f"{slow_id} diagnostics succeeded sum 7" in final
    assert f"{done_id} diagnostics succeeded sum 3" in final
    assert '{"' not in final and 'sum":' not in final  # no raw result JSON on the screen
