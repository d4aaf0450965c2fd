"""kit.erasure's rewrite of an envelope that names a deleted person (pure: no database; the outbox itself is
rewritten in the services' erasure tests, services/*/tests/test_privacy*.py)."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message
from hearth.events.v1 import events_pb2

from kit.erasure import DELETED_USER, anonymised_envelope
from tests.support.events import envelope

GONE, OTHER, HOME = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def joined(user_id: uuid.UUID, name: str) -> events_pb2.Envelope:
    payload = events_pb2.MemberJoined(household_id=str(HOME), user_id=str(user_id), display_name=name, role="member")
    return envelope("member.joined", payload, household_id=str(HOME), actor_id=str(user_id))


def unpacked(data: bytes) -> tuple[events_pb2.Envelope, events_pb2.MemberJoined]:
    event = events_pb2.Envelope.FromString(data)
    payload = events_pb2.MemberJoined()
    assert event.payload.Unpack(payload)
    return event, payload


def test_the_person_s_id_becomes_the_marker_everywhere_and_nothing_else_changes() -> None:
    event, payload = unpacked(anonymised_envelope(joined(GONE, "Zoe").SerializeToString(), GONE))
    assert (event.actor_id, payload.user_id) == (str(DELETED_USER), str(DELETED_USER))
    assert (event.household_id, payload.household_id, payload.role) == (str(HOME), str(HOME), "member")
    assert payload.display_name == "Zoe"  # only a scrub knows what else is theirs


def test_a_scrub_clears_what_the_payload_holds_beyond_the_id() -> None:
    seen: list[str] = []

    def scrub(message: Message, user_id: str) -> None:
        seen.append(user_id)
        if isinstance(message, events_pb2.MemberJoined) and message.user_id == user_id:
            message.ClearField("display_name")

    _, payload = unpacked(anonymised_envelope(joined(GONE, "Zoe").SerializeToString(), GONE, scrub=scrub))
    assert (payload.user_id, payload.display_name, seen) == (str(DELETED_USER), "", [str(GONE)])


def test_an_event_about_someone_else_is_left_as_it_was() -> None:
    data = joined(OTHER, "Olga").SerializeToString()
    event, payload = unpacked(anonymised_envelope(data, GONE))
    assert (event.actor_id, payload.user_id, payload.display_name) == (str(OTHER), str(OTHER), "Olga")


def test_a_type_outside_the_catalogue_is_returned_unchanged() -> None:
    unknown = joined(GONE, "Zoe")
    unknown.type = "member.teleported"
    data = unknown.SerializeToString()
    assert anonymised_envelope(data, GONE) == data
