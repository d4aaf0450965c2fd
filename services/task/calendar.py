"""A household's chores as an RFC 5545 calendar (the feed `GET /households/{hid}/calendar.ics` serves). Pure: chores
in, iCalendar bytes out, written with the `icalendar` library.

One VEVENT per active chore with a due time (done one-off and archived chores are absent), at most MAX_CHORES of
them, soonest due first. UID `<chore id>@hearth` is stable, so a client updates the event instead of adding one;
DTSTART is the next due time on the household's wall clock (TZID + a VTIMEZONE from zoneinfo; UTC when the
household has no zone). DTSTAMP and LAST-MODIFIED are the chore's update time (a calendar without METHOD: DTSTAMP is
the last change, RFC 5545 §3.8.7.2), so the same chores give the same bytes and the ETag only moves when they do.

Recurrences that RFC 5545 can say exactly become an RRULE from the next due time:
- weekly, monthly, yearly: the rule scheduling expands (monthly day 31 is BYMONTHDAY=28,29,30,31;BYSETPOS=-1,
  "the 31st or the month's last day", as Hearth clamps it; plain BYMONTHDAY=31 would skip short months);
- rrule: the chore's rule verbatim, but UNTIL rewritten in UTC (RFC 5545 wants UTC beside a zoned DTSTART, and a
  date UNTIL includes its whole day, as scheduling reads it);
- interval in days/weeks/months/years: FREQ + INTERVAL, counted on the wall clock like scheduling; a months/years
  step from an anchor on the 29th..31st is "that day or the month's last" (BYMONTHDAY..;BYSETPOS=-1);
- `months` (a season) becomes BYMONTH, unless the rrule already limits the months.
Everything else is expanded into one VEVENT per occurrence (UID `<chore id>-<due, UTC>@hearth`) up to HORIZON ahead,
at most MAX_EXPANDED per chore and MAX_EVENTS in all, assuming each is done on time: hour intervals (absolute time,
no wall-clock rule says them), `rolling` schedules (they count from the real completion), an RFC 5545 COUNT (it
counts from the chore's first due time, not the next one) and a season on a rule that names BYMONTH itself. An
adaptive chore's later due times are learned from completions not yet made: it shows its next due time only.

A wall time that does not exist (spring forward) is where Hearth and a calendar client may differ: Hearth makes it
the first valid instant (02:30 → 03:00), RFC 5545 clients read it with the offset before the gap (03:30).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from icalendar import Calendar, Event, vRecur

from services.task import scheduling
from services.task.scheduling import Recurrence

PRODID = "-//Hearth//Chores//EN"
CALSCALE = "GREGORIAN"
DEFAULT_NAME = "Hearth chores"
# Bounds of one feed: chores in it, occurrences of one expanded chore, and how far ahead those reach.
MAX_CHORES = 500
MAX_EXPANDED = 100
# Events in one feed: 500 hourly chores would otherwise be 50,000 (10 MiB, 15 s of CPU per fetch); this bounds a
# fetch to about 0.15 s of CPU (216 KiB). A chore past the budget still shows its next occurrence.
MAX_EVENTS = 1000
HORIZON = timedelta(days=30)
# An event's length when the chore has no estimate: a calendar shows a zero-length event badly or not at all.
DEFAULT_DURATION = timedelta(minutes=15)

_FREQ = {"days": "DAILY", "weeks": "WEEKLY", "months": "MONTHLY", "years": "YEARLY"}
_RFC_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class FeedChore:
    """What the feed shows of a chore (repository.FeedChores reads them)."""

    id: uuid.UUID
    title: str
    description: str
    category: str
    recurrence: Recurrence
    anchor_time: datetime | None
    next_due_time: datetime
    estimated_minutes: int | None
    update_time: datetime


def build(chores: Iterable[FeedChore], *, tz: tzinfo, now: datetime, name: str = DEFAULT_NAME) -> bytes:
    """The VCALENDAR of `chores` (active ones with a due time), times on `tz`'s wall clock, expansions from `now`."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", CALSCALE)
    calendar.add("x-wr-calname", name or DEFAULT_NAME)
    calendar.add("x-wr-timezone", getattr(tz, "key", "UTC"))
    ordered = sorted(chores, key=lambda chore: (chore.next_due_time, chore.id))[:MAX_CHORES]
    budget = MAX_EVENTS
    for index, chore in enumerate(ordered):
        # Soonest chores first; one event is kept for each chore after this one, so when expansions use the budget
        # up, a later chore still shows its next occurrence.
        later = len(ordered) - index - 1
        events = _events(chore, tz, now, limit=max(1, min(MAX_EXPANDED, budget - later)))
        budget -= len(events)
        for event in events:
            calendar.add_component(event)
    if ordered and tz is not UTC:
        # The VTIMEZONE's transitions from the earliest event on, to some years past the horizon.
        first = min(chore.next_due_time for chore in ordered).astimezone(tz).date()
        calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(now.year + 10, 1, 1))
    return bytes(calendar.to_ical())


def _events(chore: FeedChore, tz: tzinfo, now: datetime, *, limit: int) -> list[Event]:
    start = chore.next_due_time.astimezone(tz)
    rule = rrule_of(chore, tz)
    if rule is not None or chore.recurrence.kind in ("once", "adaptive"):
        event = _event(chore, f"{chore.id}@hearth", start if rule is None else _rule_start(chore, start, tz))
        if rule is not None:
            event.add("rrule", rule)
        return [event]
    return [
        _event(chore, f"{chore.id}-{due.astimezone(UTC):%Y%m%dT%H%M%SZ}@hearth", due.astimezone(tz))
        for due in occurrences(chore, tz, until=now + HORIZON, limit=limit)
    ]


def _rule_start(chore: FeedChore, start: datetime, tz: tzinfo) -> datetime:
    """The DTSTART of a rule: the next due time, unless that is a wall time that did not exist (02:30 on a spring
    forward day, which scheduling moved to 03:00): then the schedule's own time of day, so the later occurrences the
    client expands from it are at 02:30 again, not at 03:00."""
    recurrence = chore.recurrence
    if recurrence.kind == "weekly" and recurrence.time:
        hour, minute = (int(part) for part in recurrence.time.split(":"))
        intended = start.replace(hour=hour, minute=minute, second=0, microsecond=0)
    else:
        anchor = (chore.anchor_time or chore.next_due_time).astimezone(tz)
        intended = start.replace(hour=anchor.hour, minute=anchor.minute, second=anchor.second, microsecond=0)
    if intended == start or intended.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == intended.replace(
        tzinfo=None
    ):
        return start  # the due time is the schedule's wall time, or another one that exists (BYHOUR rules)
    return intended


def _event(chore: FeedChore, uid: str, start: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", chore.update_time.astimezone(UTC))
    event.add("last-modified", chore.update_time.astimezone(UTC))
    event.add("dtstart", start)
    minutes = chore.estimated_minutes
    event.add("duration", timedelta(minutes=minutes) if minutes else DEFAULT_DURATION)
    event.add("summary", chore.title)
    if chore.description:
        event.add("description", chore.description)
    if chore.category:
        event.add("categories", [chore.category])
    return event


def occurrences(chore: FeedChore, tz: tzinfo, *, until: datetime, limit: int = MAX_EXPANDED) -> list[datetime]:
    """The chore's due times from its next one, each as if the one before were done on time, up to `until` (the
    next one always) and at most `limit`."""
    due: datetime | None = chore.next_due_time
    found: list[datetime] = []
    while due is not None and len(found) < limit and (not found or due <= until):
        found.append(due)
        due = scheduling.next_due(
            chore.recurrence, previous_due=due, completed_at=due, tz=tz, anchor=chore.anchor_time or due
        )
    return found


def rrule_of(chore: FeedChore, tz: tzinfo) -> vRecur | None:
    """The RRULE that gives exactly the chore's due times from its next one on, or None when there is none."""
    recurrence = chore.recurrence
    if recurrence.rolling or recurrence.kind in ("once", "adaptive"):
        return None
    parts: dict[str, Any]
    if recurrence.kind == "rrule":
        verbatim = _rfc_rule(recurrence.rrule, tz)
        if verbatim is None or (recurrence.months and "BYMONTH" in verbatim):
            return None
        parts = verbatim
    elif recurrence.kind == "interval":
        assert recurrence.unit is not None  # Recurrence.__post_init__
        if recurrence.unit == "hours":
            return None
        parts = {"FREQ": _FREQ[recurrence.unit], **_interval(recurrence.every)}
        anchor = (chore.anchor_time or chore.next_due_time).astimezone(tz)
        if recurrence.unit in ("months", "years") and anchor.day > 28:
            parts |= _month_days(anchor.day)
            if recurrence.unit == "years":
                parts["BYMONTH"] = anchor.month
    elif recurrence.kind == "weekly":
        parts = {"FREQ": "WEEKLY", **_interval(recurrence.every), "WKST": "MO"}
        parts["BYDAY"] = [_RFC_DAYS[scheduling.WEEKDAYS.index(day)] for day in recurrence.days]
        if recurrence.time:
            hour, minute = recurrence.time.split(":")
            parts |= {"BYHOUR": int(hour), "BYMINUTE": int(minute)}
    elif recurrence.kind == "monthly":
        parts = {"FREQ": "MONTHLY", **_interval(recurrence.every)}
        if recurrence.weekday:
            week = recurrence.week
            parts["BYDAY"] = f"{week}{_RFC_DAYS[scheduling.WEEKDAYS.index(recurrence.weekday)]}"
        else:
            parts |= _month_days(recurrence.day_of_month)
    else:  # yearly
        parts = {"FREQ": "YEARLY", **_interval(recurrence.every), "BYMONTH": recurrence.month}
        parts |= _month_days(recurrence.day)
    if recurrence.months:
        parts["BYMONTH"] = list(recurrence.months)
    return vRecur(parts)


def _interval(every: int) -> dict[str, Any]:
    """INTERVAL, left out when it is RFC 5545's default of 1."""
    return {"INTERVAL": every} if every > 1 else {}


def _month_days(day: int) -> dict[str, Any]:
    """ "Day `day`, or the month's last day when it is shorter" (scheduling's clamp) as RFC 5545 rule parts."""
    if day == -1 or day <= 28:
        return {"BYMONTHDAY": day}
    return {"BYMONTHDAY": list(range(28, day + 1)), "BYSETPOS": -1}


def _rfc_rule(text: str, tz: tzinfo) -> dict[str, Any] | None:
    """A chore's RRULE as rule parts for a feed whose DTSTART is the next due time: UNTIL in UTC; None with a
    COUNT (it counts from the chore's first due time)."""
    body = text.strip()
    if body[:6].upper() == "RRULE:":
        body = body[6:]
    try:
        parts = dict(vRecur.from_ical(body))
    except ValueError:
        return None  # a rule dateutil takes that icalendar cannot re-write: its occurrences are expanded instead
    if "COUNT" in parts:
        return None
    if "UNTIL" in parts:
        # scheduling reads UNTIL (a date: its whole day; a bare date-time: wall time) into naive wall time.
        start = datetime(2000, 1, 1)
        wall = scheduling.parse_rrule(body, start, tz).until
        assert wall is not None
        parts["UNTIL"] = wall.replace(tzinfo=tz).astimezone(UTC)
    return parts
