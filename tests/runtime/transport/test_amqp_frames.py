"""The direct event-publish encoder writes exactly the bytes pamqp writes (pure logic)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from conveyor.runtime.transport.amqp_frames import EventPublishEncoder

FRAME_MAX = 4096


def pamqp_publish(
    channel: int, exchange: str, routing_key: str, body: bytes, headers: dict[str, Any]
) -> bytes:
    properties = spec.Basic.Properties(
        headers=headers, content_type="application/json", delivery_mode=1, message_id="-"
    )
    chunk = FRAME_MAX - 8
    frames: list[Any] = [
        spec.Basic.Publish(exchange=exchange, routing_key=routing_key),
        ContentHeader(properties=properties, body_size=len(body)),
        *(ContentBody(body[i : i + chunk]) for i in range(0, len(body), chunk)),
    ]
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload


def random_text(rng: random.Random, longest: int, alphabet: str = "abcXYZ019-._:/ ñÑαβ漢字") -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


CASES: list[tuple[str, str, bytes, dict[str, Any]]] = [
    ("events", "job.u.succeeded.diagnostics", b'{"a":1}', {"cursor": "1-0", "prev": "0-0"}),
    ("events", "k", b"", {}),  # an empty body has no body frame; empty headers are 4 zeros
    ("ns.events", "k", b"x" * (FRAME_MAX - 8), {"a": "b"}),  # exactly one full frame
    ("ns.events", "k", b"y" * (3 * FRAME_MAX + 5), {"a": "b"}),  # split in four
    ("events", "k", b"{}", {"z": "1", "a": "2", "m": "3"}),  # keys are written sorted
    ("events", "k", b"{}", {"n": 7, "flag": True, "none": None, "s": "x"}),  # pamqp's types
    ("events", "ñ.Ω", "é".encode(), {"clé": "välue ✓"}),
]


@pytest.mark.parametrize(("exchange", "routing_key", "body", "headers"), CASES)
def test_matches_pamqp(
    exchange: str, routing_key: str, body: bytes, headers: dict[str, Any]
) -> None:
    encoder = EventPublishEncoder(3, exchange, frame_max=FRAME_MAX)
    assert encoder.publish(routing_key, body, headers) == pamqp_publish(
        3, exchange, routing_key, body, headers
    )


def test_matches_pamqp_on_random_publishes() -> None:
    rng = random.Random(20261123)
    for _ in range(300):
        channel = rng.randint(1, 2047)
        exchange = random_text(rng, 40, alphabet="abcXYZ019-._:")  # what names may hold
        encoder = EventPublishEncoder(channel, exchange, frame_max=FRAME_MAX)
        routing_key = random_text(rng, 80)
        body = rng.randbytes(rng.choice([0, 1, 100, FRAME_MAX - 9, FRAME_MAX, 3 * FRAME_MAX]))
        headers = {
            random_text(rng, 20) or "k": random_text(rng, 120) for _ in range(rng.randint(0, 5))
        }
        assert encoder.publish(routing_key, body, headers) == pamqp_publish(
            channel, exchange, routing_key, body, headers
        ), (exchange, routing_key, headers)


def test_a_routing_key_over_255_bytes_is_refused() -> None:
    encoder = EventPublishEncoder(1, "events", frame_max=FRAME_MAX)
    with pytest.raises(ValueError, match="255 bytes"):
        encoder.publish("é" * 128, b"{}", {})
