"""Only ``conveyor.runtime.transport`` reaches below aio-pika's, aiormq's and pamqp's public APIs.

Outside it, the services and libraries import neither aiormq nor pamqp, and aio-pika only
through its public modules; nothing (bench included) touches those libraries' private state.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src"), ROOT / "cli"]
BENCH = ROOT / "bench"
OWNER = Path("libs/runtime/src/conveyor/runtime/transport")

LIBRARY_IMPORT = re.compile(
    r"^\s*(?:import|from)\s+(?:aiormq|pamqp)\b"
    # aio-pika's public modules only (``aio_pika.connection`` for ``make_url``, which
    # ``aio_pika.connect`` uses to read a URL).
    r"|^\s*(?:import|from)\s+aio_pika\.(?!abc\b|exceptions\b|connection import make_url$)"
)
PRIVATE_STATE = re.compile(
    # aiormq's confirm bookkeeping and writer
    r"\b(?:write_queue|message_id_delivery_tag|confirmations|_raise_on_channel_close"
    r"|_on_confirm_frame|ChannelFrame|get_underlay_channel|on_consumer_cancel_callbacks)\b"
    r"|\bdelivery_tag\s*[-+]="
    # a private attribute of a channel, connection, queue, exchange or message
    r"|\w*(?:channel|connection|underlay|queue|exchange|message)\w*\._[a-z]\w*"
    # a library attribute looked up by name, which a rename would silently defeat
    r"|getattr\([^)]*[\"'](?:reopen_callbacks|reconnect_callbacks|close_callbacks)[\"']"
)


def _owned(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    return relative == OWNER or OWNER in relative.parents


def _offenders(sources: list[Path], pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for source in sources
        for path in sorted(source.rglob("*.py"))
        if not _owned(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_only_the_transport_imports_aiormq_pamqp_or_aio_pika_internals() -> None:
    assert _offenders(PRODUCT, LIBRARY_IMPORT) == []


def test_nothing_outside_the_transport_touches_the_libraries_private_state() -> None:
    assert _offenders([*PRODUCT, BENCH], PRIVATE_STATE) == []


def test_the_checks_find_what_they_look_for() -> None:
    assert LIBRARY_IMPORT.search("from aiormq.abc import DeliveredMessage")
    assert LIBRARY_IMPORT.search("import pamqp.commands")
    assert LIBRARY_IMPORT.search("from aio_pika.robust_channel import RobustChannel")
    assert not LIBRARY_IMPORT.search("import aio_pika.abc")
    assert not LIBRARY_IMPORT.search("from aio_pika.exceptions import CONNECTION_EXCEPTIONS")
    assert not LIBRARY_IMPORT.search("from aio_pika.connection import make_url")
    assert PRIVATE_STATE.search("await channel.write_queue.put(frame)")
    assert PRIVATE_STATE.search("async with channel._raise_on_channel_close():")
    assert PRIVATE_STATE.search("self.channel.delivery_tag += len(chunk)")
    assert PRIVATE_STATE.search("underlay = await queue.channel.get_underlay_channel()")
    assert PRIVATE_STATE.search("self._connection._transport.close()")
    assert PRIVATE_STATE.search('callbacks = getattr(channel, "reopen_callbacks", None)')
    assert not PRIVATE_STATE.search("await channel.declare_queue(name, passive=True)")
    assert not PRIVATE_STATE.search("channel = self._channel()")
    # The owner is the transport package itself, not a module that merely mentions it.
    assert _owned(ROOT / OWNER / "amqp_publish.py")
    assert not _owned(ROOT / "libs/runtime/src/conveyor/runtime/broker.py")
