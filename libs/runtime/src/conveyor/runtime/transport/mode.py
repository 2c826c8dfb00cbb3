"""The transport mode: ``fast`` (paths below the libraries' public APIs) or ``plain``."""

from __future__ import annotations

from typing import Literal, get_args

TransportMode = Literal["fast", "plain"]
"""The type of ``Settings.transport``."""

MODES: tuple[TransportMode, ...] = get_args(TransportMode)
