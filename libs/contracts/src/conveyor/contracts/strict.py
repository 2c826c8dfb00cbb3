"""Strict copies of message types, for decoding what clients send at the HTTP boundary.

Bus messages ignore unknown fields (a newer producer may add some during a rolling deploy),
but a client's typo (``{"filters": {"region": [...]}}`` for ``areas``) must be a 400, not a
silently unfiltered job. ``strict_type(T)`` is ``T`` with every Struct in it (nested ones too)
replaced by a subclass that forbids unknown fields; constraints, defaults, tags and
``__post_init__`` checks are inherited, so a body that decodes strictly also decodes as ``T``.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

_CONTAINERS = (list, tuple, set, frozenset, dict)


def strict_type(tp: Any) -> Any:
    """``tp`` with every Struct type in it replaced by its strict copy."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _strict_struct(tp)
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        return Annotated[(strict_type(args[0]), *tp.__metadata__)]
    if origin in _CONTAINERS:
        return origin[tuple(strict_type(a) for a in args)]
    if origin is Union or origin is types.UnionType:
        return functools.reduce(operator.or_, (strict_type(a) for a in args))
    return tp  # scalars, Literal, enums, dates: nothing to make strict


@functools.cache
def _strict_struct(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    if cls.__struct_config__.forbid_unknown_fields:
        return cls
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(cls):
        default: Any = info.default
        if info.default_factory is not msgspec.NODEFAULT:
            default = msgspec.field(default_factory=info.default_factory)
        field_type = strict_type(hints[info.name])
        fields.append(
            (info.name, field_type)
            if default is msgspec.NODEFAULT
            else (info.name, field_type, default)
        )
    config = cls.__struct_config__
    return msgspec.defstruct(
        cls.__name__,
        fields,
        bases=(cls,),
        module=cls.__module__,
        kw_only=True,
        forbid_unknown_fields=True,
        tag=config.tag,
        tag_field=config.tag_field,
    )
