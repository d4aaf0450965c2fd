"""The pure parts of notification preferences: the decision per channel (defaults, choices, quiet hours in the
person's zone, wrapping midnight, DST), the document's rules, and the unsubscribe tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from kit.errors import InvalidArgument, NotFound
from services.notify import texts, unsubscribe
from services.notify.preferences import (
    DEFAULTS,
    EMAIL,
    IN_APP,
    PUSH,
    WEEKLY_SUMMARY,
    Preferences,
    QuietHours,
    Wanted,
    checked,
    for_recipient,
    plan,
)

BERLIN = "Europe/Berlin"
NIGHT = QuietHours(time(22, 0), time(7, 0))
LUNCH = QuietHours(time(12, 0), time(13, 30))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("kind", "in_app", "email", "push"),
    [
        ("chore.due_soon", True, True, True),
        ("chore.overdue", True, True, True),
        ("chore.assigned", True, True, True),
        ("chore.created", True, True, True),
        ("completion.approved", True, False, True),
        ("completion.rejected", True, False, True),
        ("completion.submitted", True, False, False),
        ("chore.completed", True, False, False),
        ("member.joined", True, False, False),
        ("points.changed", True, False, False),
        (WEEKLY_SUMMARY, False, True, False),
        ("no.such.type", False, False, False),
    ],
)
def test_the_defaults(kind: str, in_app: bool, email: bool, push: bool) -> None:
    decided = plan(Preferences(), kind, at("2026-12-07T10:00:00+00:00"), None)
    assert (decided.in_app.wanted, decided.email.wanted, decided.push.wanted) == (in_app, email, push)
    assert decided.email.not_before is None


def test_every_type_notify_writes_has_defaults_for_every_channel() -> None:
    for kind in texts.TYPES:
        assert set(DEFAULTS[kind]) == {IN_APP, EMAIL, PUSH}
    assert set(DEFAULTS[WEEKLY_SUMMARY]) == {EMAIL}


def test_a_choice_wins_over_the_default_and_only_for_its_type_and_channel() -> None:
    chosen = Preferences({"chore.completed": {EMAIL: True}, "chore.due_soon": {IN_APP: False}})
    now = at("2026-12-07T10:00:00+00:00")
    assert plan(chosen, "chore.completed", now, None).email.wanted
    assert plan(chosen, "chore.completed", now, None).in_app.wanted  # not chosen: the default
    assert not plan(chosen, "chore.due_soon", now, None).in_app.wanted
    assert plan(chosen, "chore.due_soon", now, None).email.wanted
    assert not plan(chosen, "member.joined", now, None).email.wanted


# (quiet hours, local time in Berlin, held until (local) or None)
QUIET_CASES = [
    (NIGHT, "2026-12-07T23:30:00+01:00", "2026-12-08T07:00:00+01:00"),  # after start: until tomorrow's end
    (NIGHT, "2026-12-07T03:00:00+01:00", "2026-12-07T07:00:00+01:00"),  # after midnight: until today's end
    (NIGHT, "2026-12-07T22:00:00+01:00", "2026-12-08T07:00:00+01:00"),  # the start minute is quiet
    (NIGHT, "2026-12-07T07:00:00+01:00", None),  # the end minute is not
    (NIGHT, "2026-12-07T21:59:00+01:00", None),
    (NIGHT, "2026-12-07T12:00:00+01:00", None),
    (LUNCH, "2026-12-07T12:15:00+01:00", "2026-12-07T13:30:00+01:00"),  # not wrapping
    (LUNCH, "2026-12-07T11:59:00+01:00", None),
    (LUNCH, "2026-12-07T13:30:00+01:00", None),
    # DST: the night of 28/29 March 2026 in Berlin has 23:00+01:00 and 07:00+02:00.
    (NIGHT, "2026-03-28T23:00:00+01:00", "2026-03-29T07:00:00+02:00"),
]


@pytest.mark.parametrize(("quiet", "local", "until"), QUIET_CASES)
def test_quiet_hours_hold_email_and_push_in_the_persons_zone_and_never_in_app(
    quiet: QuietHours, local: str, until: str | None
) -> None:
    chosen = Preferences(quiet_hours=quiet)
    now = at(local)
    expected = Wanted(True, at(until) if until else None)
    assert for_recipient(chosen, "chore.due_soon", EMAIL, now, BERLIN) == expected
    assert for_recipient(chosen, "chore.due_soon", PUSH, now, BERLIN) == expected
    assert for_recipient(chosen, "chore.due_soon", IN_APP, now, BERLIN) == Wanted(True)
    # The instant is UTC, whatever the zone.
    held = for_recipient(chosen, "chore.due_soon", EMAIL, now, BERLIN).not_before
    assert held is None or held.utcoffset() == timedelta(0)


def test_quiet_hours_are_read_in_the_zone_and_in_utc_without_one() -> None:
    chosen = Preferences(quiet_hours=NIGHT)
    now = at("2026-12-07T22:30:00+00:00")  # 23:30 in Berlin, 17:30 in New York
    assert for_recipient(chosen, "chore.overdue", EMAIL, now, BERLIN).not_before == at("2026-12-08T07:00:00+01:00")
    assert for_recipient(chosen, "chore.overdue", EMAIL, now, "America/New_York").not_before is None
    assert for_recipient(chosen, "chore.overdue", EMAIL, now, None).not_before == at("2026-12-08T07:00:00+00:00")
    # A zone this machine does not know is UTC, not an error in the consumer.
    assert for_recipient(chosen, "chore.overdue", EMAIL, now, "Mars/Base").not_before == at("2026-12-08T07:00:00+00:00")


def test_a_channel_turned_off_is_not_wanted_even_outside_quiet_hours() -> None:
    chosen = Preferences({"chore.overdue": {EMAIL: False}}, quiet_hours=NIGHT)
    assert for_recipient(chosen, "chore.overdue", EMAIL, at("2026-12-07T23:30:00+01:00"), BERLIN) == Wanted(False)


def test_a_valid_document() -> None:
    events, quiet, lead = checked(
        {"chore.completed": {EMAIL: True, PUSH: False}, WEEKLY_SUMMARY: {EMAIL: False}}, ("22:30", "06:45"), 90
    )
    assert events == {"chore.completed": {EMAIL: True, PUSH: False}, WEEKLY_SUMMARY: {EMAIL: False}}
    assert quiet == QuietHours(time(22, 30), time(6, 45))
    assert lead == 90
    assert checked({}, None, None) == ({}, None, None)
    assert checked({}, None, 0)[2] == 0
    assert checked({}, None, 10080)[2] == 10080


def violations(events: dict[str, dict[str, bool]], quiet: tuple[str, str] | None, lead: int | None) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as raised:
        checked(events, quiet, lead)
    return {v.field: v.message for v in raised.value.violations}


@pytest.mark.parametrize(
    ("events", "quiet", "lead", "field", "words"),
    [
        ({"chore.exploded": {EMAIL: True}}, None, None, "events.chore.exploded", "unknown event type 'chore.exploded'"),
        ({"chore.overdue": {"sms": True}}, None, None, "events.chore.overdue.sms", "unknown channel 'sms'"),
        ({"chore.overdue": {"webhook": True}}, None, None, "events.chore.overdue.webhook", "per household"),
        ({WEEKLY_SUMMARY: {IN_APP: True}}, None, None, "events.weekly_summary.in_app", "only the channels email"),
        ({}, ("7:00", "08:00"), None, "quiet_hours.start", "HH:MM"),
        ({}, ("22:00", "24:00"), None, "quiet_hours.end", "HH:MM"),
        ({}, ("22:00", "22:00"), None, "quiet_hours.end", "must differ from start"),
        ({}, ("", ""), None, "quiet_hours.start", "HH:MM"),
        ({}, None, -1, "reminder_lead_minutes", "from 0 to 10080"),
        ({}, None, 10081, "reminder_lead_minutes", "from 0 to 10080"),
        ({f"t{i}": {} for i in range(65)}, None, None, "events", "at most 64"),
    ],
)
def test_a_bad_document_names_the_field(
    events: dict[str, dict[str, bool]], quiet: tuple[str, str] | None, lead: int | None, field: str, words: str
) -> None:
    found = violations(events, quiet, lead)
    assert field in found, found
    assert words in found[field]


def test_every_bad_field_is_reported_at_once() -> None:
    found = violations({"nope": {EMAIL: True}, "chore.overdue": {"fax": True}}, ("25:00", "x"), 99999)
    assert set(found) == {
        "events.nope",
        "events.chore.overdue.fax",
        "quiet_hours.start",
        "quiet_hours.end",
        "reminder_lead_minutes",
    }


SECRET = b"s" * 32
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_an_unsubscribe_token_names_its_person_and_category() -> None:
    user_id = uuid.uuid4()
    token = unsubscribe.make_token(SECRET, user_id, "chore.overdue", now=NOW, days=90)
    assert unsubscribe.read_token(SECRET, token, now=NOW + timedelta(days=89)) == unsubscribe.Subscription(
        user_id, "chore.overdue"
    )


def _forged(token: str) -> list[str]:
    payload, mac = token.split(".")
    other = unsubscribe.make_token(SECRET, uuid.uuid4(), "chore.overdue", now=NOW, days=90)
    return [
        f"{payload}.{mac[:-2]}AA",  # another mac
        f"{other.split('.')[0]}.{mac}",  # another person's payload under this mac
        f"{payload}{payload}.{mac}",
        token + ".x",
        "",
        "x" * 600,
        "not a token",
        f"{payload}.",
        f"{payload}.!!!!",
    ]


def test_a_forged_expired_or_foreign_token_is_one_not_found() -> None:
    user_id = uuid.uuid4()
    token = unsubscribe.make_token(SECRET, user_id, "chore.overdue", now=NOW, days=90)
    bad = [
        *_forged(token),
        unsubscribe.make_token(b"t" * 32, user_id, "chore.overdue", now=NOW, days=90),  # another secret
        unsubscribe.make_token(SECRET, user_id, "chore.exploded", now=NOW, days=90),  # not a category
        unsubscribe.make_token(SECRET, user_id, "chore.overdue", now=NOW - timedelta(days=91), days=90),  # expired
    ]
    for candidate in bad:
        with pytest.raises(NotFound) as raised:
            unsubscribe.read_token(SECRET, candidate, now=NOW)
        assert raised.value.message == unsubscribe.NOT_FOUND_MESSAGE, candidate
