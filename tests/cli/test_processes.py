"""The process group behind ``conveyor dev``: prefixed output, first exit, SIGTERM then SIGKILL."""

from __future__ import annotations

import asyncio
import io
import sys
import time

import psutil

from conveyor.cli._processes import ChildSpec, Printer, ProcessGroup, describe_exit
from conveyor.cli._supervision import Backoff, supervise
from tests.cli._run import clean_environ


def _python(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], clean_environ(PYTHONUNBUFFERED="1"))


async def test_each_line_is_prefixed_with_its_padded_service_name() -> None:
    out = io.StringIO()
    group = ProcessGroup(Printer(["web", "worker-long"], out), grace=5)
    long_line = "x" * 200_000  # longer than a StreamReader's default line limit

    await group.start(_python("web", "print('hello'); import sys; print('oops', file=sys.stderr)"))
    await group.start(_python("worker-long", "print('x' * 200_000, end='')"))
    while out.getvalue().count("\n") < 3:
        await asyncio.sleep(0.05)
    await group.stop()

    lines = out.getvalue().splitlines()
    assert "web         | hello" in lines
    assert "web         | oops" in lines
    assert f"worker-long | {long_line}" in lines
    assert "\x1b[" not in out.getvalue()  # no colors off a terminal


async def test_the_first_child_to_exit_is_named_with_its_code() -> None:
    group = ProcessGroup(Printer(["sleeper", "quitter"], io.StringIO()), grace=5)
    await group.start(_python("sleeper", "import time; time.sleep(60)"))
    await group.start(_python("quitter", "raise SystemExit(3)"))

    name, code = await group.first_exit()
    await group.stop()

    assert (name, code) == ("quitter", 3)
    assert describe_exit(code) == "exit code 3"


async def test_a_child_ignoring_sigterm_is_killed_with_its_helpers_after_the_grace() -> None:
    out = io.StringIO()
    group = ProcessGroup(Printer(["stubborn"], out), grace=1)
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    await group.start(_python("stubborn", code))
    while "ready" not in out.getvalue():
        await asyncio.sleep(0.05)
    (pid,) = group.pids
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(family) == 2

    started = time.monotonic()
    await group.stop()

    assert 1 <= time.monotonic() - started < 10
    _, alive = psutil.wait_procs(family, timeout=5)
    assert alive == []
    assert "stubborn did not stop within 1 s; killing it" in out.getvalue()
    assert "stubborn stopped (killed by SIGKILL)" in out.getvalue()


async def test_supervision_restarts_an_exiting_child_with_a_growing_delay() -> None:
    out = io.StringIO()
    group = ProcessGroup(Printer(["flaky", "steady"], out), grace=5)
    await group.start(_python("flaky", "raise SystemExit(1)"))
    await group.start(_python("steady", "import time; time.sleep(60)"))
    stop = asyncio.Event()
    supervisor = asyncio.create_task(
        supervise(group, group_printer(out), stop, Backoff(first=0.1, cap=0.4))
    )
    async with asyncio.timeout(20):
        while out.getvalue().count("flaky restarted") < 3:
            await asyncio.sleep(0.02)
    stop.set()
    assert await supervisor is None
    await group.stop()
    text = out.getvalue()
    delays = [line.rsplit(" in ", 1)[1] for line in text.splitlines() if "restarting it" in line]
    assert delays[:3] == ["0.1 s", "0.2 s", "0.4 s"]
    assert "flaky exited (exit code 1)" in text
    assert "steady restarted" not in text


async def test_supervision_stops_on_a_configuration_error() -> None:
    out = io.StringIO()
    group = ProcessGroup(Printer(["misconfigured"], out), grace=5)
    await group.start(_python("misconfigured", "raise SystemExit(2)"))
    crashed = await supervise(group, group_printer(out), asyncio.Event(), Backoff(first=0.1))
    await group.stop()
    assert crashed == "misconfigured"
    assert "misconfigured exited with a configuration error (exit code 2)" in out.getvalue()
    assert "restarting" not in out.getvalue()


def group_printer(out: io.StringIO) -> Printer:
    return Printer(["flaky", "steady", "misconfigured"], out)


def test_a_stable_run_resets_the_backoff() -> None:
    backoff = Backoff(first=1, cap=8, stable_after=30)
    assert [backoff.delay("w", uptime=1) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.delay("w", uptime=31) == 1
