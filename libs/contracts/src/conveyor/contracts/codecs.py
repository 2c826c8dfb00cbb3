"""Encoders and decoders, built once: JSON on the wire, validated on receipt."""

from __future__ import annotations

import msgspec

from conveyor.contracts.control import AnyControlCommand
from conveyor.contracts.events import AnyEvent, AnyJobEvent
from conveyor.contracts.jobs import JobEnvelope

encoder = msgspec.json.Encoder()
envelope_decoder = msgspec.json.Decoder(JobEnvelope)
event_decoder = msgspec.json.Decoder(AnyEvent)
job_event_decoder = msgspec.json.Decoder(AnyJobEvent)
control_decoder = msgspec.json.Decoder(AnyControlCommand)


def encode(obj: object) -> bytes:
    return encoder.encode(obj)
