"""The event catalogue: one type per payload message, read from the protos, with API.md's names."""

from __future__ import annotations

import re

import pytest
from hearth.events.v1 import events_pb2

from kit.catalogue import EVENT_TYPES, payload_class, type_of

# The names API.md fixes for the events that exist so far (SSE, WebSocket, webhooks and the bus alike).
API_NAMES = {
    "chore.created": events_pb2.ChoreCreated,
    "chore.updated": events_pb2.ChoreUpdated,
    "chore.completed": events_pb2.ChoreCompleted,
    "member.joined": events_pb2.MemberJoined,
    "member.left": events_pb2.MemberLeft,
}


def test_every_payload_message_is_in_the_catalogue_and_only_the_envelope_is_not() -> None:
    messages = {getattr(events_pb2, name) for name in events_pb2.DESCRIPTOR.message_types_by_name}
    assert messages - set(EVENT_TYPES.values()) == {events_pb2.Envelope}


def test_names_are_lower_case_resource_dot_verb() -> None:
    for name in EVENT_TYPES:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", name), name


@pytest.mark.parametrize(("name", "cls"), sorted(API_NAMES.items()))
def test_api_md_names_are_bound_to_their_payloads(name: str, cls: type) -> None:
    assert payload_class(name) is cls
    assert type_of(cls()) == name
    assert type_of(cls) == name


def test_unknown_types_and_non_events() -> None:
    assert payload_class("chore.complete") is None
    assert payload_class("") is None
    with pytest.raises(ValueError, match="not an event payload"):
        type_of(events_pb2.Envelope())
