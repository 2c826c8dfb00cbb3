"""Decoding what clients send: strictly (unknown fields are a 400 naming them), never a 500."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

from conveyor.contracts.strict import strict_type
from conveyor.gateway.errors import ValidationFailedError, from_msgspec

T = TypeVar("T")

TOO_DEEP = "the JSON is nested too deeply"


@functools.cache
def _decoders(cls: Any) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    return msgspec.json.Decoder(strict_type(cls)), msgspec.json.Decoder(cls)


def decode_body(body: bytes, cls: type[T]) -> T:
    """``body`` as ``cls``; ``ValidationFailedError`` naming the field at fault otherwise.

    The strict copy refuses unknown fields; the result is then decoded as ``cls`` itself, so
    what travels on the bus is exactly the contract type (the body is small: decoding it twice
    costs next to nothing).
    """
    strict, lenient = _decoders(cls)  # type: ignore[arg-type]  # classes are hashable
    try:
        strict.decode(body)
        decoded: T = lenient.decode(body)
    except msgspec.MsgspecError as exc:
        raise from_msgspec(exc) from None
    except RecursionError:
        # msgspec recurses per nesting level when it skips or looks ahead for a tag.
        raise ValidationFailedError(TOO_DEEP) from None
    return decoded
