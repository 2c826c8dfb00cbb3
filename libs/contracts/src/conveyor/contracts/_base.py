"""Base Structs for every message on the bus and in Redis."""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base of every bus message.

    Unknown fields are ignored (not forbidden) so that a newer producer can add fields with
    defaults without breaking older consumers during a rolling deploy.
    """


class Tagged(Message, tag_field="type"):
    """A message that belongs to a tagged union, discriminated by its ``type`` field."""
