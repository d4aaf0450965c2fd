"""Request bodies of the REST API. Unknown fields are refused (422) and strings are trimmed and bounded.

Rules that belong to the domain (password policy, time zones, who may do what) are checked by the
services, so REST and gRPC callers get the same answers; these models check shape and bounds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
)
from pydantic import field_validator as _field_validator
from pydantic_core import PydanticCustomError

from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters
from kit.timestamps import EARLIEST, LATEST, in_range


class _SecretMarker:
    """Annotated metadata of a password field: only NUL is refused, nothing is trimmed or changed."""


SECRET = _SecretMarker()
NUL_MESSAGE = "must not contain NUL characters"
TIMESTAMP_MESSAGE = f"must be between {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and {LATEST:%Y-%m-%dT%H:%M:%SZ}"


def plain_text(value: str) -> str:
    """Refuse C0 control characters (except tab, newline, carriage return): PostgreSQL cannot store NUL."""
    if has_control_characters(value):
        raise PydanticCustomError("control_characters", CONTROL_CHARACTERS_MESSAGE)
    return value


def representable(moment: datetime) -> datetime:
    """Refuse an instant outside the range every service stores (and one Python cannot even shift to UTC)."""
    if not in_range(moment):
        raise PydanticCustomError("timestamp_out_of_range", TIMESTAMP_MESSAGE)
    return moment


# For query and path parameters (request bodies get the same check from `Body`).
PlainText = AfterValidator(plain_text)
# Every timestamp the gateway accepts, in bodies and in query parameters.
# Not strict (bodies are, see Body): JSON has no timestamp type, so an RFC 3339 string is how one arrives.
Timestamp = Annotated[AwareDatetime, Strict(False), AfterValidator(representable)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
# Passwords are never trimmed nor otherwise changed; only NUL is refused.
Secret = Annotated[str, StringConstraints(strip_whitespace=False, max_length=256), SECRET]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Body(BaseModel):
    # strict: JSON's types as they are — `"points": true`, `"points": "20"`, `"requires_photo": "yes"` are 422, not
    # quietly 1, 20 and True.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    @_field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        """Every string field, and every string in a list field (nested bodies run their own copy)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and SECRET in field.metadata:
            if isinstance(value, str) and "\x00" in value:
                raise PydanticCustomError("control_characters", NUL_MESSAGE)
            return value
        strings = value if isinstance(value, list) else [value]
        for item in strings:
            if isinstance(item, str):
                plain_text(item)
        return value


class RegisterBody(Body):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Secret
    display_name: Name
    timezone: Text | None = None
    locale: Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)] | None = None


class LoginBody(Body):
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    password: Secret
    totp_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None


# A TOTP code ("123456", "123 456") or a recovery code ("ABCDE-FGHJK").
SecondFactorCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class TotpEnrollBody(Body):
    # Needed unless the caller signed in within the last ten minutes.
    password: Secret | None = None


class TotpActivateBody(Body):
    code: SecondFactorCode


class TotpDisableBody(Body):
    code: SecondFactorCode
    password: Secret | None = None


class ForgotPasswordBody(Body):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]


class ResetPasswordBody(Body):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
    new_password: Secret
    totp_code: SecondFactorCode | None = None


class ChangePasswordBody(Body):
    current_password: Secret
    new_password: Secret
    totp_code: SecondFactorCode | None = None


class RefreshBody(Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LogoutBody(Body):
    refresh_token: Annotated[str, StringConstraints(max_length=512)] | None = None


class ApiKeyBody(Body):
    name: Name
    # Known scopes only (kit.auth.API_KEY_SCOPES; the user service says which when one is not).
    scopes: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]], Field(max_length=20)
    ]
    expires_at: Timestamp | None = None


class PushKeys(Body):
    # base64url; the notify service checks what they decode to (a P-256 point, a 16-byte secret).
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PushSubscriptionBody(Body):
    """What a browser's PushSubscription.toJSON() gives, as it gives it."""

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    keys: PushKeys
    # Milliseconds since the epoch (a DOMHighResTimeStamp: may have a fraction), or null: no end known.
    expiration_time: Annotated[float, Field(ge=0, le=253402300799000)] | None = Field(
        default=None, alias="expirationTime"
    )


class UserPatch(Body):
    display_name: Name | None = None
    timezone: Text | None = None
    locale: Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)] | None = None
    # A new address needs a recent sign-in (403 reauthentication_required otherwise).
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)] | None = None


EventTypeKey = Annotated[str, StringConstraints(max_length=64), PlainText]
ChannelKey = Annotated[str, StringConstraints(max_length=32), PlainText]


class QuietHoursBody(Body):
    # "HH:MM" in the user's time zone (the service checks the shape); end before start wraps midnight.
    start: Annotated[str, StringConstraints(max_length=16)]
    end: Annotated[str, StringConstraints(max_length=16)]


class NotificationPreferencesBody(Body):
    # Event type → channel → on; a type or channel left out takes its default (the service names unknown ones).
    events: Annotated[
        dict[EventTypeKey, Annotated[dict[ChannelKey, bool], Field(max_length=8)]], Field(max_length=64)
    ] = Field(default_factory=dict)
    quiet_hours: QuietHoursBody | None = None
    # Minutes before a chore is due (the service allows 0..10080); null: the chore's own reminders.
    reminder_lead_minutes: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None


class DeleteUserBody(Body):
    password: Secret
    totp_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] | None = None


class HouseholdBody(Body):
    name: Name
    timezone: Text


class HouseholdPatch(Body):
    name: Name | None = None
    timezone: Text | None = None


class InviteBody(Body):
    role: Literal["admin", "member", "child"]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None


class MemberPatch(Body):
    # "owner" transfers ownership (owner only): the previous owner becomes an admin.
    role: Literal["owner", "admin", "member", "child"]


class AwayBody(Body):
    """PUT …/members/{uid}/away: away in [from, to). How long and how far ahead is the user service's to decide."""

    # `from` is a Python keyword: the JSON name is the alias (errors name it too).
    start: Timestamp = Field(alias="from")
    to: Timestamp


# The fields each recurrence kind takes (besides `kind`, `rolling` and `months`, which every kind takes).
RECURRENCE_FIELDS: dict[str, frozenset[str]] = {
    "once": frozenset(),
    "interval": frozenset({"every", "unit"}),
    "weekly": frozenset({"every", "days", "time"}),
    "monthly": frozenset({"every", "day_of_month", "weekday", "week"}),
    "yearly": frozenset({"every", "month", "day"}),
    "rrule": frozenset({"rrule"}),
    "adaptive": frozenset({"every", "unit"}),
}


class RecurrenceBody(Body):
    kind: Literal["once", "interval", "weekly", "monthly", "yearly", "rrule", "adaptive"]
    every: Annotated[int, Field(ge=1, le=1000)] | None = None
    unit: Literal["hours", "days", "weeks", "months", "years"] | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = None
    day_of_month: Annotated[int, Field(ge=-1, le=31)] | None = None
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    week: Annotated[int, Field(ge=-1, le=4)] | None = None
    month: Annotated[int, Field(ge=1, le=12)] | None = None
    day: Annotated[int, Field(ge=1, le=31)] | None = None
    rrule: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    rolling: bool | None = None
    months: list[Annotated[int, Field(ge=1, le=12)]] | None = None

    @_field_validator("every", "unit", "days", "time", "day_of_month", "weekday", "week", "month", "day", "rrule")
    @classmethod
    def _belongs_to_the_kind(cls, value: Any, info: ValidationInfo) -> Any:
        """A field the kind has no use for is refused, not dropped (bad input loses nothing: the client learns the
        chore would not be what it sent). `null` is as good as leaving it out."""
        kind = info.data.get("kind")
        if value is not None and kind is not None and info.field_name not in RECURRENCE_FIELDS[kind]:
            raise PydanticCustomError("not_for_kind", "does not apply to a {kind} recurrence", {"kind": kind})
        return value


class AssignmentBody(Body):
    strategy: Literal[
        "fixed",
        "unassigned",
        "round_robin",
        "least_completed",
        "least_assigned",
        "least_points",
        "random",
        "random_except_last",
    ]
    assignees: Annotated[list[Id], Field(max_length=50)] = []
    rotate: Literal["on_completion", "daily", "weekly"] | None = None
    on_miss: Literal["keep", "advance"] | None = None
    grace_minutes: Annotated[int, Field(ge=0, le=10080)] | None = None
    miss_penalty_points: Annotated[int, Field(ge=0, le=1000)] | None = None


class AssignmentPatch(Body):
    """A merge patch of a chore's assignment: only the members present change; `null` puts one back to its default
    (no assignees, no rotate, 0 grace minutes)."""

    strategy: (
        Literal[
            "fixed",
            "unassigned",
            "round_robin",
            "least_completed",
            "least_assigned",
            "least_points",
            "random",
            "random_except_last",
        ]
        | None
    ) = None
    assignees: Annotated[list[Id], Field(max_length=50)] | None = None
    rotate: Literal["on_completion", "daily", "weekly"] | None = None
    on_miss: Literal["keep", "advance"] | None = None
    grace_minutes: Annotated[int, Field(ge=0, le=10080)] | None = None
    miss_penalty_points: Annotated[int, Field(ge=0, le=1000)] | None = None


class ReminderBody(Body):
    before_minutes: Annotated[int, Field(ge=0, le=43200)]


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class SubtaskBody(Body):
    """A step of the chore. In a patch (which replaces the list), `id` keeps one the chore has, and its tick."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    id: Id | None = None


Subtasks = Annotated[list[SubtaskBody], Field(max_length=50)]


class ChoreBody(Body):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: LongText | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    labels: Annotated[list[Label], Field(max_length=20)] | None = None
    points: Annotated[int, Field(ge=0, le=1000)] = 0
    estimated_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    recurrence: RecurrenceBody
    assignment: AssignmentBody
    first_due_at: Timestamp | None = None
    reminders: Annotated[list[ReminderBody], Field(max_length=10)] | None = None
    requires_photo: bool = False
    requires_approval: bool = False
    subtasks: Subtasks | None = None


class ChoreBatchBody(Body):
    items: Annotated[list[ChoreBody], Field(min_length=1, max_length=500)] = Field(
        description="The chores to create, each as POST …/chores takes one"
    )
    atomic: bool = Field(default=False, description="All or nothing: one refused item and none is created")


class ChorePatch(Body):
    """A JSON merge patch (RFC 7396): only the fields present change, also inside `recurrence` and `assignment`.
    A recurrence names its `kind`: of the stored kind, its members present are merged in (`null`: back to the
    default); of another kind, it replaces the stored recurrence whole."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    description: LongText | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    labels: Annotated[list[Label], Field(max_length=20)] | None = None
    points: Annotated[int, Field(ge=0, le=1000)] | None = None
    estimated_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    recurrence: RecurrenceBody | None = None
    assignment: AssignmentPatch | None = None
    next_due_at: Timestamp | None = None
    reminders: Annotated[list[ReminderBody], Field(max_length=10)] | None = None
    requires_photo: bool | None = None
    requires_approval: bool | None = None
    # The whole list (null or [] removes every subtask).
    subtasks: Subtasks | None = None


CategoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class CategoryBody(Body):
    name: CategoryName


class CategoryPatch(Body):
    """A merge patch of a category: `name` renames it (on its chores too)."""

    name: CategoryName | None = None


class CompleteBody(Body):
    completed_at: Timestamp | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    photo_id: Id | None = None
    completed_by: Id | None = None


class ReviewBody(Body):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = Field(
        default=None, description="A word for the member, e.g. why it was rejected"
    )


class RewardBody(Body):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    cost: Annotated[int, Field(ge=1, le=100_000)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class SnoozeBody(Body):
    until: Timestamp = Field(description="The open occurrence's new due time: after now, before the next occurrence")


class WebhookBody(Body):
    """A webhook endpoint: where the household's events of `events` are POSTed, signed (Standard Webhooks)."""

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)] = Field(
        description="https (http only where the deployment allows private targets); no user or password in it"
    )
    events: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100)]], Field(min_length=1, max_length=50)
    ] = Field(description='Event types ("chore.completed", ...) or "*" for every household event')
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
