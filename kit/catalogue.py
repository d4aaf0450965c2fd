"""The event catalogue: which payload message each event type carries, and which service publishes it, read
from the protos themselves.

Every event payload in `hearth.events.v1` declares its type and its producer with message options
(`option (event_type) = "chore.completed"; option (event_producer) = "task";`), so the binding lives in one
place — the proto — and cannot drift: producers pass a payload and `type_of` names it; consumers look an
incoming type up with `payload_class` and get the message class to decode it into, and `producer_of` tells
which service's stream alone may carry it. A type string no message declares is unknown (a consumer counts
and dead-letters it instead of dropping it in silence).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from google.protobuf.message import Message
from hearth.events.v1 import events_pb2

from kit import redis_acl

# The extensions' descriptors (protoc's .pyi types them as plain FieldDescriptors).
_EVENT_TYPE: Any = events_pb2.event_type
_EVENT_PRODUCER: Any = events_pb2.event_producer


def _option(cls: type[Message], extension: Any) -> str:
    options = cls.DESCRIPTOR.GetOptions()
    return str(options.Extensions[extension]) if options.HasExtension(extension) else ""


def _declared_type(cls: type[Message]) -> str:
    return _option(cls, _EVENT_TYPE)


def _build() -> dict[str, type[Message]]:
    by_type: dict[str, type[Message]] = {}
    for name in events_pb2.DESCRIPTOR.message_types_by_name:
        cls: type[Message] = getattr(events_pb2, name)
        event_type = _declared_type(cls)
        if not event_type:
            continue
        if event_type in by_type:  # two messages claiming one type would make decoding ambiguous
            raise RuntimeError(f"event type {event_type!r} declared by {by_type[event_type].__name__} and {name}")
        producer = _option(cls, _EVENT_PRODUCER)
        if producer not in redis_acl.PRODUCERS:  # a typo would have every consumer refuse the event
            raise RuntimeError(
                f"event {name} names {producer!r} as its producer, not one of {sorted(redis_acl.PRODUCERS)}"
            )
        by_type[event_type] = cls
    return by_type


# Event type → payload class, e.g. "chore.completed" → events_pb2.ChoreCompleted.
EVENT_TYPES: Mapping[str, type[Message]] = MappingProxyType(_build())
_TYPE_BY_MESSAGE = {cls.DESCRIPTOR.full_name: event_type for event_type, cls in EVENT_TYPES.items()}
# Event type → the service whose stream (hearth.events.<service>) carries it.
PRODUCERS: Mapping[str, str] = MappingProxyType(
    {event_type: _option(cls, _EVENT_PRODUCER) for event_type, cls in EVENT_TYPES.items()}
)


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


def producer_of(event_type: str) -> str | None:
    """The service that publishes `event_type` (None when the catalogue does not know the type)."""
    return PRODUCERS.get(event_type)


__all__ = ["EVENT_TYPES", "PRODUCERS", "payload_class", "producer_of", "type_of"]
