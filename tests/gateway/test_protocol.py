"""WebSocket protocol details (conveyor.gateway.ws.protocol)."""

from __future__ import annotations

import msgspec
import pytest

from conveyor.gateway.ws.protocol import (
    EventMessage,
    Subscribe,
    client_decoder,
    encode_text,
    stream_position,
)


def test_stream_ids_order_numerically_not_as_text() -> None:
    assert stream_position("9-0") < stream_position("10-0")
    assert stream_position("5-2") < stream_position("5-10")
    assert stream_position("0") == stream_position("0-0")


@pytest.mark.parametrize("cursor", ["", "abc", "1-", "-1", "1-2-3", "1.5-0"])
def test_a_cursor_that_is_not_a_stream_id_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        stream_position(cursor)


def test_a_subscribe_message_decodes_with_its_defaults() -> None:
    assert client_decoder.decode(b'{"type": "subscribe", "job_id": "ab12"}') == Subscribe(
        job_id="ab12"
    )


def test_a_misspelt_field_is_refused_rather_than_ignored() -> None:
    with pytest.raises(msgspec.ValidationError, match="after_sq"):
        client_decoder.decode(b'{"type": "subscribe", "job_id": "ab12", "after_sq": 3}')


def test_an_event_is_forwarded_byte_for_byte_and_unknown_parts_are_left_out() -> None:
    body = b'{"event":"job.queued","seq":1,"job_id":"j","owner":"o","x":1.50}'
    text = encode_text(EventMessage(job_id="j", seq=1, event=msgspec.Raw(body)))
    assert text == '{"type":"event","event":' + body.decode() + ',"job_id":"j","seq":1}'
