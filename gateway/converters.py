"""hearth.*.v1 messages ↔ the JSON of API.md: bare ids instead of resource names, RFC 3339 UTC times."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.analytics.v1 import analytics_pb2
from hearth.notify.v1 import notify_pb2
from hearth.task.v1 import task_pb2
from hearth.user.v1 import user_pb2

from gateway import schemas

JSON = dict[str, Any]


# Timestamp.ToDatetime's range (0001-01-01 .. 9999-12-31), nanos in [0, 1e9): anything else goes the slow
# way below, which raises ValueError exactly as it always did.
_SECONDS_MIN = -62135596800
_SECONDS_MAX = 253402300799
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


@lru_cache(maxsize=8192)
def _day(days: int) -> str:
    """ "YYYY-MM-DDT" of the day `days` after 1970-01-01 (negative: before)."""
    return date.fromordinal(_EPOCH_DAY + days).isoformat() + "T"


def time_out(stamp: Timestamp, present: bool = True) -> str | None:
    """RFC 3339 UTC with a `Z`, as `stamp.ToDatetime(tzinfo=UTC).isoformat()` writes it (microseconds, truncated;
    no fraction when they are zero), from seconds and nanos directly: a tenth of the cost, the same bytes
    (gateway/tests/test_converters.py compares the two)."""
    if not present:
        return None
    seconds = stamp.seconds
    nanos = stamp.nanos
    if seconds == 0 and nanos == 0:
        return None
    if not (_SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < 1_000_000_000):
        return time_out_slow(stamp)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    digits = _TWO_DIGITS
    text = f"{_day(days)}{digits[hours]}:{digits[minutes]}:{digits[secs]}"
    micros = nanos // 1000
    return f"{text}.{micros:06d}Z" if micros else text + "Z"


def time_out_slow(stamp: Timestamp) -> str:
    """The reference: what `time_out` used to compute, through a datetime (kept for the tests and the edge)."""
    return stamp.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def time_in(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def last_id(name: str) -> str:
    """The id at the end of a resource name ("households/h/chores/c" → "c"); "" for ""."""
    return name.rsplit("/", 1)[-1] if name else ""


_ROLE_NAMES = {number: name.removeprefix("ROLE_").lower() for name, number in user_pb2.Role.items() if number}


def role(value: int) -> str:
    if not value:
        return ""
    name = _ROLE_NAMES.get(value)
    # An unknown number raises ValueError, as Role.Name does.
    return name if name is not None else user_pb2.Role.Name(value).removeprefix("ROLE_").lower()


def role_in(value: str) -> user_pb2.Role:
    return user_pb2.Role.Value(f"ROLE_{value.upper()}")  # type: ignore[return-value]


# --- field names in errors --------------------------------------------------------------------------

# Services name fields as their proto paths (BadRequest field violations); clients sent API.md's JSON
# names. Full paths are looked up first, then the request's resource prefix is dropped and each
# segment renamed.
_RESOURCE_PREFIXES = (
    "user.",
    "household.",
    "chore.",
    "invite.",
    "member.",
    "completion.",
    "api_key.",
    "category.",
    "push_subscription.",
)
_FIELD_RENAMES = {
    # A browser's PushSubscription.toJSON() spelling (gateway/routes/push.py).
    "push_subscription.p256dh": "keys.p256dh",
    "push_subscription.auth": "keys.auth",
    "push_subscription.expire_time": "expirationTime",
    "category.display_name": "name",
    "household.display_name": "name",
    "api_key.display_name": "name",
    "api_key.expire_time": "expires_at",
    "time_zone": "timezone",
    "next_due_time": "next_due_at",
    "complete_time": "completed_at",
    "photo": "photo_id",
    "assignee": "assignee_id",
    "start_time": "from",
    "end_time": "to",
    "away.name": "name",
    "query": "q",
    "unread_only": "unread",
    # UploadPhoto's bytes arrive as the multipart part `file`.
    "chunk": "file",
}


def json_field(path: str) -> str:
    if path in _FIELD_RENAMES:
        return _FIELD_RENAMES[path]
    for prefix in _RESOURCE_PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            path = path.removeprefix(prefix)
            break
    if path in _FIELD_RENAMES:
        return _FIELD_RENAMES[path]
    return ".".join(_FIELD_RENAMES.get(part, part) for part in path.split("."))


# --- user -------------------------------------------------------------------------------------------


def user(message: user_pb2.User) -> JSON:
    return {
        "id": last_id(message.name),
        "email": message.email,
        "display_name": message.display_name,
        "timezone": message.time_zone,
        "locale": message.locale,
        "created_at": time_out(message.create_time),
        "updated_at": time_out(message.update_time),
    }


def notification_preferences(message: notify_pb2.NotificationPreferences) -> JSON:
    quiet = message.quiet_hours
    return {
        "events": {kind: dict(switches.channels) for kind, switches in sorted(message.events.items())},
        "quiet_hours": {"start": quiet.start, "end": quiet.end} if message.HasField("quiet_hours") else None,
        "reminder_lead_minutes": message.reminder_lead_minutes if message.HasField("reminder_lead_minutes") else None,
        "timezone": message.time_zone,
    }


def tokens(message: user_pb2.TokenPair) -> JSON:
    return {
        "access_token": message.access_token,
        "refresh_token": message.refresh_token,
        "token_type": message.token_type or "Bearer",
        "expires_in": message.expires_in,
    }


def household(message: user_pb2.Household) -> JSON:
    return {
        "id": last_id(message.name),
        "name": message.display_name,
        "timezone": message.time_zone,
        "role": role(message.caller_role),
        "created_at": time_out(message.create_time),
        "updated_at": time_out(message.update_time),
    }


def invite(message: user_pb2.Invite) -> JSON:
    return {
        "id": last_id(message.name),
        "household_id": message.name.split("/")[1] if message.name else "",
        "code": message.code,
        "role": role(message.role),
        "email": message.email or None,
        "expires_at": time_out(message.expire_time),
        "created_at": time_out(message.create_time),
    }


def member(message: user_pb2.Member) -> JSON:
    return {
        "user_id": last_id(message.user),
        "household_id": message.name.split("/")[1] if message.name else "",
        "display_name": message.display_name,
        "role": role(message.role),
        "joined_at": time_out(message.join_time),
    }


def away(message: user_pb2.Away) -> JSON:
    parts = message.name.split("/")  # households/{h}/members/{u}/away
    return {
        "user_id": parts[3] if len(parts) > 3 else "",
        "household_id": parts[1] if len(parts) > 1 else "",
        "from": time_out(message.start_time),
        "to": time_out(message.end_time),
    }


# --- task -------------------------------------------------------------------------------------------

_UNITS = {"hours": 1, "days": 2, "weeks": 3, "months": 4, "years": 5}
_STRATEGIES = {
    "fixed": 1,
    "unassigned": 2,
    "round_robin": 3,
    "least_completed": 4,
    "least_assigned": 5,
    "least_points": 6,
    "random": 7,
    "random_except_last": 8,
}
_ROTATE = {"on_completion": 1, "daily": 2, "weekly": 3}
_ON_MISS = {"keep": 1, "advance": 2}
_STATES = {0: "active", 1: "active", 2: "done", 3: "archived"}


# number → JSON name, for the converters out (each map is one-to-one).
_UNIT_NAMES = {number: name for name, number in _UNITS.items()}
_STRATEGY_NAMES = {number: name for name, number in _STRATEGIES.items()}
_ROTATE_NAMES = {number: name for name, number in _ROTATE.items()}
_ON_MISS_NAMES = {number: name for name, number in _ON_MISS.items()}


def recurrence_in(body: schemas.RecurrenceBody) -> task_pb2.Recurrence:
    message = task_pb2.Recurrence(rolling=bool(body.rolling), months=body.months or [])
    R = task_pb2.Recurrence
    if body.kind == "once":
        message.once.CopyFrom(R.Once())
    elif body.kind == "interval":
        message.interval.CopyFrom(R.Interval(every=body.every or 0, unit=_UNITS.get(body.unit or "", 0)))  # type: ignore[arg-type]
    elif body.kind == "weekly":
        message.weekly.CopyFrom(R.Weekly(every=body.every or 1, days=body.days or [], time=body.time or ""))
    elif body.kind == "monthly":
        message.monthly.CopyFrom(
            R.Monthly(
                every=body.every or 1,
                day_of_month=body.day_of_month or 0,
                weekday=body.weekday or "",
                week=body.week or 0,
            )
        )
    elif body.kind == "yearly":
        message.yearly.CopyFrom(R.Yearly(every=body.every or 1, month=body.month or 0, day=body.day or 0))
    elif body.kind == "rrule":
        message.rrule.CopyFrom(R.RRule(rrule=body.rrule or ""))
    else:
        message.adaptive.CopyFrom(R.Adaptive(every=body.every or 0, unit=_UNITS.get(body.unit or "", 0)))  # type: ignore[arg-type]
    return message


def recurrence_out(message: task_pb2.Recurrence) -> JSON:
    kind = message.WhichOneof("kind") or ""
    out: JSON = {"kind": kind}
    if kind == "interval":
        out |= {"every": message.interval.every, "unit": _UNIT_NAMES.get(message.interval.unit)}
    elif kind == "weekly":
        out |= {"every": message.weekly.every, "days": list(message.weekly.days), "time": message.weekly.time or None}
    elif kind == "monthly":
        monthly = message.monthly
        out |= {"every": monthly.every}
        if monthly.weekday:
            out |= {"weekday": monthly.weekday, "week": monthly.week}
        else:
            out |= {"day_of_month": monthly.day_of_month}
    elif kind == "yearly":
        out |= {"every": message.yearly.every, "month": message.yearly.month, "day": message.yearly.day}
    elif kind == "rrule":
        out |= {"rrule": message.rrule.rrule}
    elif kind == "adaptive" and message.adaptive.unit:
        out |= {"every": message.adaptive.every, "unit": _UNIT_NAMES.get(message.adaptive.unit)}
    out["rolling"] = message.rolling
    if message.months:
        out["months"] = list(message.months)
    return out


def assignment_in(body: schemas.AssignmentBody | schemas.AssignmentPatch) -> task_pb2.Assignment:
    return task_pb2.Assignment(
        strategy=_STRATEGIES.get(body.strategy or "", 0),  # type: ignore[arg-type]
        assignees=[f"users/{a}" for a in body.assignees or []],
        rotate=_ROTATE.get(body.rotate or "", 0),  # type: ignore[arg-type]
        on_miss=_ON_MISS.get(body.on_miss or "", 0),  # type: ignore[arg-type]
        grace_minutes=body.grace_minutes or 0,
        miss_penalty_points=body.miss_penalty_points or 0,
    )


def assignment_out(message: task_pb2.Assignment) -> JSON:
    return {
        "strategy": _STRATEGY_NAMES.get(message.strategy),
        "assignees": [last_id(a) for a in message.assignees],
        "rotate": _ROTATE_NAMES.get(message.rotate),
        "on_miss": _ON_MISS_NAMES.get(message.on_miss),
        "grace_minutes": message.grace_minutes,
        "miss_penalty_points": message.miss_penalty_points,
    }


def chore_in(body: schemas.ChoreBody | schemas.ChorePatch) -> task_pb2.Chore:
    message = task_pb2.Chore(
        title=body.title or "",
        description=body.description or "",
        category=body.category or "",
        labels=body.labels or [],
        points=body.points or 0,
        reminders=[task_pb2.Reminder(before_minutes=r.before_minutes) for r in body.reminders or []],
        requires_photo=bool(body.requires_photo),
        requires_approval=bool(body.requires_approval),
        subtasks=[task_pb2.Subtask(id=item.id or "", title=item.title) for item in body.subtasks or []],
    )
    if body.estimated_minutes is not None:
        message.estimated_minutes = body.estimated_minutes
    if body.recurrence is not None:
        message.recurrence.CopyFrom(recurrence_in(body.recurrence))
    if body.assignment is not None:
        message.assignment.CopyFrom(assignment_in(body.assignment))
    due = body.first_due_at if isinstance(body, schemas.ChoreBody) else body.next_due_at
    if due is not None:
        message.next_due_time.CopyFrom(time_in(due))
    return message


# JSON merge-patch field → Chore field path (update_mask).
CHORE_PATCH_PATHS = {
    "title": "title",
    "description": "description",
    "category": "category",
    "labels": "labels",
    "points": "points",
    "estimated_minutes": "estimated_minutes",
    "recurrence": "recurrence",
    "assignment": "assignment",
    "next_due_at": "next_due_time",
    "reminders": "reminders",
    "requires_photo": "requires_photo",
    "requires_approval": "requires_approval",
    "subtasks": "subtasks",
}


def chore_patch_mask(body: schemas.ChorePatch) -> list[str]:
    """The update mask of a merge patch: each field present; inside `recurrence` and `assignment` each member
    present (task's nested paths: `assignment.grace_minutes`, `recurrence.weekly.days`, `recurrence.rolling`), so
    the task service merges them into the stored values. A recurrence with nothing but its kind names the kind
    (`recurrence.once`): the same kind changes nothing, another replaces the recurrence."""
    paths: list[str] = []
    for name in sorted(body.model_fields_set):
        nested = getattr(body, name)
        if name == "assignment" and nested is not None:
            paths += [f"assignment.{member}" for member in sorted(nested.model_fields_set)]
        elif name == "recurrence" and nested is not None:
            members = sorted(nested.model_fields_set - {"kind"})
            common = [f"recurrence.{m}" for m in members if m not in schemas.RECURRENCE_FIELDS[nested.kind]]
            own = [f"recurrence.{nested.kind}.{m}" for m in members if m in schemas.RECURRENCE_FIELDS[nested.kind]]
            paths += own + common if own else [f"recurrence.{nested.kind}", *common]
        else:
            paths.append(CHORE_PATCH_PATHS[name])
    return paths


def chore(message: task_pb2.Chore) -> JSON:
    parts = message.name.split("/")
    return {
        "id": last_id(message.name),
        "household_id": parts[1] if len(parts) > 1 else "",
        "title": message.title,
        "description": message.description,
        "category": message.category or None,
        "labels": list(message.labels),
        "points": message.points,
        "estimated_minutes": message.estimated_minutes if message.HasField("estimated_minutes") else None,
        "recurrence": recurrence_out(message.recurrence),
        "assignment": assignment_out(message.assignment),
        "next_due_at": time_out(message.next_due_time, message.HasField("next_due_time")),
        "assignee_id": last_id(message.assignee) or None,
        "status": _STATES.get(message.state, "active"),
        "reminders": [{"before_minutes": r.before_minutes} for r in message.reminders],
        "requires_photo": message.requires_photo,
        "requires_approval": message.requires_approval,
        "subtasks": [{"id": item.id, "title": item.title, "done": item.done} for item in message.subtasks],
        "created_by": last_id(message.creator) or None,
        "last_completed_at": time_out(message.last_completion_time, message.HasField("last_completion_time")),
        "created_at": time_out(message.create_time),
        "updated_at": time_out(message.update_time),
        "etag": message.etag,
    }


REVIEW_STATUSES = {
    task_pb2.Completion.APPROVED: "approved",
    task_pb2.Completion.PENDING: "pending",
    task_pb2.Completion.REJECTED: "rejected",
}
REVIEW_STATUS_VALUES = {name: value for value, name in REVIEW_STATUSES.items()}


def completion(message: task_pb2.Completion) -> JSON:
    parts = message.name.split("/")
    return {
        "id": last_id(message.name),
        "household_id": parts[1] if len(parts) > 1 else "",
        "chore_id": parts[3] if len(parts) > 3 else "",
        "completed_by": last_id(message.completed_by),
        "completed_at": time_out(message.complete_time),
        "note": message.note or None,
        "photo_id": last_id(message.photo) or None,
        "points": message.points,
        "due_at": time_out(message.due_time, message.HasField("due_time")),
        "on_time": message.on_time,
        "recorded_by": last_id(message.recorder) or None,
        "subtasks_done": [{"id": item.id, "title": item.title} for item in message.subtasks_done],
        "created_at": time_out(message.create_time),
        "status": REVIEW_STATUSES.get(message.status, "approved"),
        "reviewed_by": last_id(message.reviewer) or None,
        "reviewed_at": time_out(message.review_time, message.HasField("review_time")),
        "review_note": message.review_note or None,
        "assignee_id": last_id(message.assignee) or None,
    }


def category(message: task_pb2.Category) -> JSON:
    return {
        "id": last_id(message.name),
        "household_id": message.name.split("/")[1],
        "name": message.display_name,
        "chore_count": message.chore_count,
        "created_at": time_out(message.create_time),
        "updated_at": time_out(message.update_time),
    }


# --- points and rewards ------------------------------------------------------------------------------


def point_entry(message: task_pb2.PointEntry) -> JSON:
    return {
        "id": last_id(message.name),
        "user_id": last_id(message.user),
        "delta": message.delta,
        "reason": task_pb2.PointEntry.Reason.Name(message.reason).lower(),
        "completion_id": message.completion_id or None,
        "reward_id": message.reward_id or None,
        "balance": message.balance,
        "created_at": time_out(message.create_time),
    }


def points(message: task_pb2.ListPointEntriesResponse) -> JSON:
    return {
        "user_id": last_id(message.user),
        "balance": message.balance,
        "items": [point_entry(e) for e in message.entries],
        "next_page_token": message.next_page_token,
    }


def reward(message: task_pb2.Reward) -> JSON:
    return {
        "id": last_id(message.name),
        "household_id": message.name.split("/")[1],
        "title": message.title,
        "description": message.description or None,
        "cost": message.cost,
        "created_by": last_id(message.creator),
        "created_at": time_out(message.create_time),
    }


def redemption(message: task_pb2.Redemption) -> JSON:
    parts = message.name.split("/")  # households/{h}/rewards/{r}/redemptions/{id}
    return {
        "id": parts[-1],
        "household_id": parts[1],
        "reward_id": parts[3],
        "user_id": last_id(message.user),
        "cost": message.cost,
        "balance": message.balance,
        "created_at": time_out(message.create_time),
    }


OUTCOMES = {
    task_pb2.Occurrence.DONE: "done",
    task_pb2.Occurrence.SKIPPED: "skipped",
    task_pb2.Occurrence.MISSED: "missed",
}


def occurrence(message: task_pb2.Occurrence) -> JSON:
    parts = message.name.split("/")
    return {
        "id": last_id(message.name),
        "chore_id": parts[3] if len(parts) > 3 else "",
        "due_at": time_out(message.due_time),
        "assignee_id": last_id(message.assignee) or None,
        "outcome": OUTCOMES.get(message.outcome, "done"),
        "completed_by": last_id(message.completed_by) or None,
        "recorded_by": last_id(message.recorder) or None,
        "at": time_out(message.end_time),
        "completion_id": last_id(message.completion) or None,
    }


# --- notify / analytics -----------------------------------------------------------------------------


def webhook(message: notify_pb2.Webhook) -> JSON:
    parts = message.name.split("/")
    return {
        "id": parts[-1],
        "household_id": parts[1] if len(parts) > 1 else "",
        "url": message.url,
        "events": list(message.events),
        "description": message.description,
        "state": message.state,
        "disabled_reason": message.disabled_reason or None,
        "disabled_at": time_out(message.disable_time, message.HasField("disable_time")),
        "previous_secret_expires_at": time_out(
            message.previous_secret_expire_time, message.HasField("previous_secret_expire_time")
        ),
        "created_at": time_out(message.create_time),
        "updated_at": time_out(message.update_time),
    }


def webhook_with_secret(message: notify_pb2.WebhookWithSecret) -> JSON:
    return {**webhook(message.webhook), "secret": message.secret}


def webhook_delivery(message: notify_pb2.WebhookDelivery) -> JSON:
    parts = message.name.split("/")
    return {
        "id": parts[-1],
        "webhook_id": parts[3] if len(parts) > 3 else "",
        "event_id": message.event_id,
        "event_type": message.event_type,
        "status": message.status,
        "attempts": message.attempts,
        "response_code": message.response_code or None,
        "latency_ms": message.latency_ms if message.response_code else None,
        "last_error": message.last_error or None,
        "next_attempt_at": time_out(message.next_attempt_time, message.HasField("next_attempt_time")),
        "created_at": time_out(message.create_time),
        "attempted_at": time_out(message.attempt_time, message.HasField("attempt_time")),
    }


def notification(message: notify_pb2.Notification) -> JSON:
    read_at = time_out(message.read_time, message.HasField("read_time"))
    return {
        "id": last_id(message.name),
        "type": message.type,
        "title": message.title,
        "body": message.body,
        "household_id": last_id(message.household) or None,
        "subject": message.subject or None,
        "actor_id": last_id(message.actor) or None,
        "created_at": time_out(message.create_time),
        "read_at": read_at,
        "read": read_at is not None,
    }


def push_subscription(message: notify_pb2.PushSubscription) -> JSON:
    return {
        "id": last_id(message.name),
        "endpoint": message.endpoint,
        "created_at": time_out(message.create_time),
        "expires_at": time_out(message.expire_time, message.HasField("expire_time")),
    }


def stats(message: analytics_pb2.HouseholdStats) -> JSON:
    return {
        "from": time_out(message.start_time),
        "to": time_out(message.end_time),
        "members": [
            {
                "user_id": last_id(m.user),
                "completions": m.completions,
                "points": m.points,
                "on_time_rate": m.on_time_rate,
                "current_streak": m.current_streak,
                "best_streak": m.best_streak,
                "share": m.share,
                "missed": m.missed,
            }
            for m in message.members
        ],
        "household": {
            "completions": message.household.completions,
            "completion_rate": message.household.completion_rate,
            "overdue": message.household.overdue,
            "fairness": message.household.fairness,
        },
    }


def session(message: user_pb2.Session) -> JSON:
    return {
        "id": last_id(message.name),
        "device": message.device,
        "user_agent": message.user_agent,
        "ip": message.ip_address,
        "created_at": time_out(message.create_time),
        "last_used_at": time_out(message.last_use_time),
        "expires_at": time_out(message.expire_time),
        "current": message.current,
    }


def api_key(message: user_pb2.ApiKey) -> JSON:
    shown: JSON = {
        "id": last_id(message.name),
        "name": message.display_name,
        "scopes": list(message.scopes),
        "prefix": message.prefix,
        "created_at": time_out(message.create_time),
        "expires_at": time_out(message.expire_time, message.HasField("expire_time")),
        "last_used_at": time_out(message.last_use_time, message.HasField("last_use_time")),
    }
    if message.key:
        shown["key"] = message.key
    return shown


_EXPORT_STATES = {user_pb2.Export.PENDING: "pending", user_pb2.Export.DONE: "done", user_pb2.Export.FAILED: "failed"}


def export(message: user_pb2.Export, *, download_url: str) -> JSON:
    """`download_url`: where the finished archive is (the route knows its own path); null until it is done."""
    status = _EXPORT_STATES.get(message.state, "pending")
    return {
        "id": last_id(message.name),
        "status": status,
        "created_at": time_out(message.create_time),
        "expires_at": time_out(message.expire_time, message.HasField("expire_time")),
        "size_bytes": message.size_bytes,
        "error": message.error,
        "download_url": download_url if status == "done" else None,
    }


def audit_event(message: user_pb2.AuditEvent) -> JSON:
    return {
        "id": last_id(message.name),
        "action": message.action,
        "actor_id": last_id(message.actor) if message.actor else "",
        "target": message.target,
        "ip": message.ip_address,
        "user_agent": message.user_agent,
        "correlation_id": message.correlation_id,
        "created_at": time_out(message.create_time),
        "details": json.loads(message.details_json or "{}"),
    }


def audit_page(message: user_pb2.ListAuditEventsResponse) -> JSON:
    """A page of audit events, a user's or a household's."""
    return {
        "items": [audit_event(e) for e in message.audit_events],
        "next_page_token": message.next_page_token,
    }


def calendar_feed(message: task_pb2.CalendarFeed, url: str) -> JSON:
    return {"token": message.token, "url": url, "created_at": time_out(message.create_time)}


# --- photos -------------------------------------------------------------------------------------------------------


def photo(message: task_pb2.Photo, url: str, thumbnail_url: str) -> JSON:
    return {
        "id": last_id(message.name),
        "url": url,
        "thumbnail_url": thumbnail_url,
        "content_type": message.content_type,
        "size": message.size,
        "width": message.width,
        "height": message.height,
        "sha256": message.sha256,
        "uploaded_by": last_id(message.uploader) or None,
        "thumbnail_ready": message.thumbnail_state == task_pb2.Photo.READY,
        "created_at": time_out(message.create_time),
    }


# --- live events ---------------------------------------------------------------------------------------------------


def online_member(message: notify_pb2.OnlineMember) -> JSON:
    return {
        "user_id": last_id(message.user),
        "display_name": message.display_name,
        "connections": message.connections,
    }
