"""The event catalogue: which payload message each event type carries, read from the protos themselves.

Every event payload in `hearth.events.v1` declares its type with the `(hearth.events.v1.event_type)` message
option (`option (event_type) = "chore.completed";`), so the binding lives in one place — the proto — and
cannot drift: producers pass a payload and `type_of` names it; consumers look an incoming type up with
`payload_class` and get the message class to decode it into. A type string no message declares is unknown
(a consumer counts and dead-letters it instead of dropping it in silence).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from google.protobuf.message import Message
from hearth.events.v1 import events_pb2

# The extension's descriptor (protoc's .pyi types it as a plain FieldDescriptor).
_EVENT_TYPE: Any = events_pb2.event_type


def _declared_type(cls: type[Message]) -> str:
    options = cls.DESCRIPTOR.GetOptions()
    return str(options.Extensions[_EVENT_TYPE]) if options.HasExtension(_EVENT_TYPE) else ""


def _build() -> dict[str, type[Message]]:
    by_type: dict[str, type[Message]] = {}
    for name in events_pb2.DESCRIPTOR.message_types_by_name:
        cls: type[Message] = getattr(events_pb2, name)
        event_type = _declared_type(cls)
        if not event_type:
            continue
        if event_type in by_type:  # two messages claiming one type would make decoding ambiguous
            raise RuntimeError(f"event type {event_type!r} declared by {by_type[event_type].__name__} and {name}")
        by_type[event_type] = cls
    return by_type


# Event type → payload class, e.g. "chore.completed" → events_pb2.ChoreCompleted.
EVENT_TYPES: Mapping[str, type[Message]] = MappingProxyType(_build())
_TYPE_BY_MESSAGE = {cls.DESCRIPTOR.full_name: event_type for event_type, cls in EVENT_TYPES.items()}


def type_of(payload: Message | type[Message]) -> str:
    """The event type a payload message is published as; a message that is not an event is a bug (ValueError)."""
    full_name = payload.DESCRIPTOR.full_name
    try:
        return _TYPE_BY_MESSAGE[full_name]
    except KeyError:
        raise ValueError(f"{full_name} is not an event payload (no event_type option in hearth.events.v1)") from None


def payload_class(event_type: str) -> type[Message] | None:
    """The payload class of `event_type`, or None when the catalogue does not know the type."""
    return EVENT_TYPES.get(event_type)


__all__ = ["EVENT_TYPES", "payload_class", "type_of"]
