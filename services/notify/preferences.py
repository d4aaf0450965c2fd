"""Notification preferences: the defaults, the rules a document must follow, and the pure decision of which channel
tells a person of an event, and when.

A person's preferences are, per event type and channel (`in_app`, `email`, `push`), on or off; `quiet_hours`
(`{start, end}`, "HH:MM" in their own time zone, wrapping midnight when end < start; none by default) and
`reminder_lead_minutes` (0..10080; none by default: the chore's own reminders apply, services.notify.reminders).
Webhooks are not here: they are per household (POST /households/{hid}/webhooks), not a per-user switch.

What is stored is only what the person set (models.NotificationPreference); a type or channel they left out takes
its default from `DEFAULTS`, read at each use, so PUT replaces the document and a later default reaches everyone
who never chose.

The defaults (README, "Notification preferences and email", holds the same table):

| event type            | in_app | email | push |
|-----------------------|--------|-------|------|
| chore.created (assigned to you) | on | on | on |
| chore.assigned        | on     | on    | on   |
| chore.due_soon        | on     | on    | on   |
| chore.overdue         | on     | on    | on   |
| completion.approved   | on     | off   | on   |
| completion.rejected   | on     | off   | on   |
| completion.submitted  | on     | off   | off  |
| chore.completed       | on     | off   | off  |
| member.joined / .left | on     | off   | off  |
| points.changed        | on     | off   | off  |
| webhook.disabled      | on     | on    | off  |
| weekly_summary        | —      | on    | —    |

Quiet hours hold, they do not digest: in-app is written at once; an email and a push are held and sent, each on
its own, when the quiet hours end. A push carries an in-app notification: with in-app off for a type, nothing of it
is pushed either (services.notify.consumers.notify).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.validation import Violations
from services.notify import texts

IN_APP, EMAIL, PUSH = "in_app", "email", "push"
CHANNELS = (IN_APP, EMAIL, PUSH)
WEEKLY_SUMMARY = "weekly_summary"
# Webhooks exist (per household), so naming one here gets an answer saying where they are, not "unknown channel".
WEBHOOK = "webhook"
LEAD_MAX_MINUTES = 7 * 24 * 60
# Far more than the types there are: a bound on what a hostile document makes us look at.
MAX_EVENT_TYPES = 64
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _switches(in_app: bool, email: bool, push: bool) -> Mapping[str, bool]:
    return MappingProxyType({IN_APP: in_app, EMAIL: email, PUSH: push})


# The one table of defaults (see the module docstring): event type → channel → on.
DEFAULTS: Mapping[str, Mapping[str, bool]] = MappingProxyType(
    {
        "chore.created": _switches(True, True, True),
        "chore.assigned": _switches(True, True, True),
        "chore.due_soon": _switches(True, True, True),
        "chore.overdue": _switches(True, True, True),
        "completion.approved": _switches(True, False, True),
        "completion.rejected": _switches(True, False, True),
        "completion.submitted": _switches(True, False, False),
        "chore.completed": _switches(True, False, False),
        "member.joined": _switches(True, False, False),
        "member.left": _switches(True, False, False),
        "points.changed": _switches(True, False, False),
        # An owner's webhook stopped (410, or failing): worth a mail, the integration is down until they act.
        "webhook.disabled": _switches(True, True, False),
        WEEKLY_SUMMARY: MappingProxyType({EMAIL: True}),
    }
)
assert set(DEFAULTS) == texts.TYPES | {WEEKLY_SUMMARY}, "every notified type has defaults"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def held_until(self, local: datetime) -> datetime | None:
        """The end of the quiet hours `local` (an aware local time) falls in, as an aware local time; None when it
        falls in none. [start, end): the minute quiet hours end is no longer quiet."""
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            if not self.start <= now < self.end:
                return None
            day = local.date()
        else:  # wraps midnight
            if self.end <= now < self.start:
                return None
            day = local.date() if now < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=local.tzinfo)


@dataclass(frozen=True)
class Preferences:
    """One person's preferences, as set (`events` holds only what they chose; `DEFAULTS` fill the rest)."""

    events: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    reminder_lead_minutes: int | None = None
    version: int = 0

    def wants(self, event_type: str, channel: str) -> bool:
        chosen = self.events.get(event_type, {})
        if channel in chosen:
            return chosen[channel]
        return DEFAULTS.get(event_type, {}).get(channel, False)

    def resolved(self) -> dict[str, dict[str, bool]]:
        """Every type with every channel it has, the person's choice or the default."""
        return {kind: {channel: self.wants(kind, channel) for channel in DEFAULTS[kind]} for kind in sorted(DEFAULTS)}


def zone_of(name: str | None) -> ZoneInfo:
    """The person's zone; UTC when notify has not heard it (or it is not one this machine knows)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Wanted:
    """Whether a channel tells the person, and the earliest instant it may (None: at once)."""

    wanted: bool
    not_before: datetime | None = None


NOT_WANTED = Wanted(False)


def for_recipient(preferences: Preferences, event_type: str, channel: str, now: datetime, zone: str | None) -> Wanted:
    """The decision for one channel (the push channel calls this): off → not wanted; in-app → at once; email and
    push → at once, or, inside the person's quiet hours, held until they end (an instant in UTC)."""
    if not preferences.wants(event_type, channel):
        return NOT_WANTED
    if channel == IN_APP or preferences.quiet_hours is None:
        return Wanted(True)
    held = preferences.quiet_hours.held_until(now.astimezone(zone_of(zone)))
    if held is None:
        return Wanted(True)
    # A wall time the zone skips (spring forward) is read as zoneinfo reads it: the instant it would have been.
    return Wanted(True, held.astimezone(now.tzinfo))


@dataclass(frozen=True)
class Plan:
    in_app: Wanted
    email: Wanted
    push: Wanted


def plan(preferences: Preferences, event_type: str, now: datetime, zone: str | None) -> Plan:
    """Every channel's decision for one recipient of an event of `event_type` at `now` (aware)."""
    return Plan(*(for_recipient(preferences, event_type, channel, now, zone) for channel in CHANNELS))


def parse_hhmm(value: str) -> time | None:
    match = _HHMM.match(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def checked(
    events: Mapping[str, Mapping[str, bool]],
    quiet_hours: tuple[str, str] | None,
    reminder_lead_minutes: int | None,
) -> tuple[dict[str, dict[str, bool]], QuietHours | None, int | None]:
    """A document's parts, valid; InvalidArgument naming every bad field (`events.<type>.<channel>`, ...) at once."""
    errors = Violations()
    valid: dict[str, dict[str, bool]] = {}
    if len(events) > MAX_EVENT_TYPES:
        errors.add("events", f"must hold at most {MAX_EVENT_TYPES} event types")
        events = {}
    for kind, channels in events.items():
        shown = kind[:64]
        if kind not in DEFAULTS:
            # Not the list of known ones: GET answers every type, and the detail stays short enough to translate.
            errors.add(f"events.{shown}", f"unknown event type {shown!r}")
            continue
        if len(channels) > len(CHANNELS) + 1:
            errors.add(f"events.{kind}", f"must hold at most the channels {', '.join(DEFAULTS[kind])}")
            continue
        for channel, on in channels.items():
            name = channel[:32]
            if channel == WEBHOOK:
                errors.add(
                    f"events.{kind}.{WEBHOOK}",
                    "webhooks are per household (POST /households/{hid}/webhooks), not a per-user switch",
                )
            elif channel not in CHANNELS:
                errors.add(f"events.{kind}.{name}", f"unknown channel {name!r}; known: {', '.join(CHANNELS)}")
            elif channel not in DEFAULTS[kind]:
                errors.add(f"events.{kind}.{channel}", f"{kind} has only the channels {', '.join(DEFAULTS[kind])}")
            else:
                valid.setdefault(kind, {})[channel] = bool(on)
    quiet: QuietHours | None = None
    if quiet_hours is not None:
        start, end = parse_hhmm(quiet_hours[0]), parse_hhmm(quiet_hours[1])
        if start is None:
            errors.add("quiet_hours.start", "must be a time HH:MM (00:00 to 23:59)")
        if end is None:
            errors.add("quiet_hours.end", "must be a time HH:MM (00:00 to 23:59)")
        if start is not None and end is not None:
            if start == end:
                errors.add("quiet_hours.end", "must differ from start (for no quiet hours, send null)")
            else:
                quiet = QuietHours(start, end)
    if reminder_lead_minutes is not None and not 0 <= reminder_lead_minutes <= LEAD_MAX_MINUTES:
        errors.add("reminder_lead_minutes", f"must be from 0 to {LEAD_MAX_MINUTES} minutes (a week)")
    errors.raise_if_any()
    return valid, quiet, reminder_lead_minutes


def from_row(row: Any) -> Preferences:
    """The preferences of a models.NotificationPreference (or a row with its columns); none → the defaults."""
    if row is None:
        return Preferences()
    quiet = None
    if row.quiet_start and row.quiet_end:
        start, end = parse_hhmm(row.quiet_start), parse_hhmm(row.quiet_end)
        if start is not None and end is not None:
            quiet = QuietHours(start, end)
    return Preferences(row.events or {}, quiet, row.reminder_lead_minutes, row.version)


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


__all__ = [
    "CHANNELS",
    "DEFAULTS",
    "EMAIL",
    "IN_APP",
    "PUSH",
    "WEEKLY_SUMMARY",
    "Plan",
    "Preferences",
    "QuietHours",
    "Wanted",
    "checked",
    "for_recipient",
    "from_row",
    "plan",
    "zone_of",
]
