"""Run ``conveyor`` as a real process, the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

CONVEYOR = (sys.executable, "-m", "conveyor.cli")


def clean_environ(**extra: str) -> dict[str, str]:
    """This environment without ``CONVEYOR_*``/``OTEL_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "OTEL_"))}
    env.update(extra)
    return env


def conveyor(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVEYOR, *args],
        env=dict(env) if env is not None else clean_environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
