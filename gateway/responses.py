"""Response bodies of the REST API as pydantic models, for the OpenAPI document and nothing else.

The JSON itself is built by `gateway.converters` and sent pre-serialized: these models are never used to
validate or re-serialize a response, so documenting a body costs no request anything. What keeps them true
is `gateway/tests/test_openapi_contract.py`, which validates real responses against `/openapi.json`.
Every model forbids properties it does not name (a field the converters add without documenting it fails
that test), and a field is required wherever the converters always emit it, `null` or not.

Each model has an example instance (`EXAMPLES`), built through the model once at import, so an example
that drifts from its model fails at start-up rather than misleading a reader of `/docs`.

Over 400 lines on purpose: declarations only (no logic), one per body API.md defines, so the whole response
contract reads in one file beside `converters.py`. Split it by resource (`responses/chores.py`, ...) when the
next domains (notify, analytics in full) are documented.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# RFC 3339 in UTC with a `Z`, as `converters.time_out` writes it (API.md: "timestamps RFC 3339 UTC").
UtcTime = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-22T18:00:00Z"],
    ),
]
Email = Annotated[str, Field(json_schema_extra={"format": "email"})]
Role = Literal["owner", "admin", "member", "child"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Month = Annotated[int, Field(ge=1, le=12)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth and users ---------------------------------------------------------------------------------


class User(Model):
    id: str
    email: Email
    display_name: str
    timezone: str = Field(description="IANA time zone name; empty when the account has none")
    locale: str
    created_at: UtcTime
    updated_at: UtcTime


class QuietHours(Model):
    start: str = Field(description="HH:MM in the user's time zone")
    end: str = Field(description="HH:MM; before start: the quiet hours wrap midnight")


class NotificationPreferences(Model):
    events: dict[str, dict[str, bool]] = Field(
        description="Event type → channel (in_app, email, push; weekly_summary: email only) → on. Webhooks are per "
        "household (POST /households/{hid}/webhooks), not a per-user switch"
    )
    quiet_hours: QuietHours | None = Field(description="Email and push are held (not digested) until they end")
    reminder_lead_minutes: int | None = Field(
        description="Remind this long before a chore is due, once per occurrence (instead of the chore's reminders)"
    )
    timezone: str = Field(description="The zone quiet hours are read in: the profile's (UTC until known)")


class Unsubscribed(Model):
    category: str = Field(description="The email category now off: an event type or weekly_summary")
    email: bool = Field(description="Always false: that category is no longer mailed")


class Tokens(Model):
    access_token: str = Field(description="A JWT for `Authorization: Bearer`")
    refresh_token: str = Field(description="Spent by POST /auth/refresh, which hands out a new pair")
    token_type: str
    expires_in: int = Field(description="Seconds until the access token expires")


class Jwk(Model):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class Jwks(Model):
    keys: list[Jwk]


# --- households -------------------------------------------------------------------------------------


class Household(Model):
    id: str
    name: str
    timezone: str
    role: Role = Field(description="The caller's role in the household")
    created_at: UtcTime
    updated_at: UtcTime


class Invite(Model):
    id: str
    household_id: str
    code: str = Field(description="What the invitee passes to POST /invites/{code}/accept")
    role: Role
    email: Email | None = Field(description="Only this address may accept, when set")
    expires_at: UtcTime
    created_at: UtcTime


class Member(Model):
    user_id: str
    household_id: str
    display_name: str
    role: Role
    joined_at: UtcTime


class Away(Model):
    """A member's away period [from, to): automatic assignment skips them meanwhile."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user_id: str
    household_id: str
    start: UtcTime = Field(alias="from", description="The first moment the member is away")
    to: UtcTime = Field(description="The member is back (exclusive)")


# --- chores -----------------------------------------------------------------------------------------


class _RecurrenceBase(Model):
    rolling: bool = Field(description="The next due date counts from the actual completion, not the schedule")
    # Left out of the JSON when the chore is not seasonal.
    months: list[Month] = Field(default=[], description="The season the chore recurs in; absent: all year")


class OnceRecurrence(_RecurrenceBase):
    kind: Literal["once"]


class IntervalRecurrence(_RecurrenceBase):
    kind: Literal["interval"]
    every: int
    unit: Literal["hours", "days", "weeks", "months", "years"] | None


class WeeklyRecurrence(_RecurrenceBase):
    kind: Literal["weekly"]
    every: int
    days: list[Weekday]
    time: str | None = Field(description="Local time of day, HH:MM")


class MonthlyByDayRecurrence(_RecurrenceBase):
    kind: Literal["monthly"]
    every: int
    day_of_month: int = Field(description="1..31, or -1 for the last day")


class MonthlyByWeekdayRecurrence(_RecurrenceBase):
    kind: Literal["monthly"]
    every: int
    weekday: Weekday
    week: int = Field(description="1..4, or -1 for the last one")


class YearlyRecurrence(_RecurrenceBase):
    kind: Literal["yearly"]
    every: int
    month: Month
    day: int


class RRuleRecurrence(_RecurrenceBase):
    kind: Literal["rrule"]
    rrule: str = Field(description="RFC 5545 recurrence rule")


class AdaptiveRecurrence(_RecurrenceBase):
    kind: Literal["adaptive"]


Recurrence = (
    OnceRecurrence
    | IntervalRecurrence
    | WeeklyRecurrence
    | MonthlyByDayRecurrence
    | MonthlyByWeekdayRecurrence
    | YearlyRecurrence
    | RRuleRecurrence
    | AdaptiveRecurrence
)


class Assignment(Model):
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
    assignees: list[str] = Field(description="User ids, in rotation order")
    rotate: Literal["on_completion", "daily", "weekly"] | None
    on_miss: Literal["keep", "advance"] | None
    grace_minutes: int
    miss_penalty_points: int


class Reminder(Model):
    before_minutes: int


class Subtask(Model):
    id: str
    title: str
    done: bool = Field(description="Ticked for the open occurrence; starts again when the chore moves on")


class DoneSubtask(Model):
    id: str
    title: str


class Chore(Model):
    id: str
    household_id: str
    title: str
    description: str
    category: str | None
    labels: list[str]
    points: int
    estimated_minutes: int | None
    recurrence: Recurrence
    assignment: Assignment
    next_due_at: UtcTime | None = Field(description="When the open occurrence is due; null when none is left")
    assignee_id: str | None
    status: Literal["active", "done", "archived"]
    reminders: list[Reminder]
    requires_photo: bool
    requires_approval: bool
    subtasks: list[Subtask]
    created_by: str | None
    last_completed_at: UtcTime | None
    created_at: UtcTime
    updated_at: UtcTime
    etag: str = Field(description="The ETag header's value, unquoted; If-Match takes it")


class Completion(Model):
    id: str
    household_id: str
    chore_id: str
    completed_by: str
    completed_at: UtcTime
    note: str | None
    photo_id: str | None
    points: int
    due_at: UtcTime | None = Field(description="When the completed occurrence was due")
    on_time: bool
    recorded_by: str | None = Field(description="Who recorded it, when not the one who did it")
    subtasks_done: list[DoneSubtask] = Field(description="The chore's subtasks ticked for this occurrence, as then")
    created_at: UtcTime
    status: Literal["approved", "pending", "rejected"] = Field(
        description="Whether it counts: a child's completion of a chore that requires approval is `pending` until an "
        "adult approves it (then it earns its points) or rejects it (it never counts); every other one is `approved`"
    )
    reviewed_by: str | None = Field(description="Who approved or rejected it; null while pending or if not needed")
    reviewed_at: UtcTime | None
    review_note: str | None = Field(description="The reviewer's word, e.g. why it was rejected")
    assignee_id: str | None = Field(description="Who held the occurrence when it was completed; null: nobody")


class CompletedChore(Completion):
    chore: Chore = Field(description="The chore as it is now: next_due_at and assignee_id have moved on")


# --- points and rewards ------------------------------------------------------------------------------


class PointEntry(Model):
    id: str
    user_id: str
    delta: int = Field(description="Points added (completion) or taken (undo, penalty, redemption)")
    reason: Literal["completion", "undo", "penalty", "redemption", "adjustment"]
    completion_id: str | None
    reward_id: str | None
    balance: int = Field(description="The member's balance after this entry")
    created_at: UtcTime


class Points(Model):
    user_id: str
    balance: int
    items: list[PointEntry] = Field(description="The ledger, newest first")
    next_page_token: str = Field(description="Pass as ?page_token= for the next page; empty on the last page")


class Reward(Model):
    id: str
    household_id: str
    title: str
    description: str | None
    cost: int
    created_by: str
    created_at: UtcTime


class Category(Model):
    id: str
    household_id: str
    name: str = Field(description="Unique in the household, case-insensitively; chores name it in `category`")
    chore_count: int = Field(description="The household's chores (not archived) in it")
    created_at: UtcTime
    updated_at: UtcTime


class Redemption(Model):
    id: str
    household_id: str
    reward_id: str
    user_id: str
    cost: int
    balance: int = Field(description="The redeemer's balance after it")
    created_at: UtcTime


# --- notifications and analytics --------------------------------------------------------------------


class Notification(Model):
    id: str
    type: str = Field(description="The event type, e.g. chore.completed")
    title: str
    body: str
    household_id: str | None
    subject: str | None = Field(description="Resource name of what it is about")
    actor_id: str | None
    created_at: UtcTime
    read_at: UtcTime | None
    read: bool


class PushSubscription(Model):
    id: str
    endpoint: str = Field(description="The push service's URL for the browser")
    created_at: UtcTime
    expires_at: UtcTime | None = Field(description="When the push service ends it (expirationTime); null: unknown")


class PushSubscriptionList(Model):
    items: list[PushSubscription] = Field(description="All of the caller's subscriptions, newest first")


class VapidPublicKey(Model):
    public_key: str = Field(
        description="The VAPID public key (uncompressed P-256 point, base64url): PushManager.subscribe's"
        " applicationServerKey"
    )


WebhookState = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "sending", "succeeded", "dead"]


class Webhook(Model):
    id: str
    household_id: str
    url: str
    events: list[str] = Field(description='Event types, or ["*"] for every household event')
    description: str
    state: WebhookState = Field(description="disabled: nothing is delivered any more (410 Gone, or failing)")
    disabled_reason: Literal["gone", "failing"] | None = Field(
        description="gone: the endpoint answered 410; failing: deliveries ended dead, several in a row"
    )
    disabled_at: UtcTime | None
    previous_secret_expires_at: UtcTime | None = Field(
        description="Until then the secret before the last rotation signs too (a second signature)"
    )
    created_at: UtcTime
    updated_at: UtcTime


class WebhookWithSecret(Webhook):
    secret: str = Field(description="whsec_<base64>: the signing secret, shown this once")


class WebhookDelivery(Model):
    id: str
    webhook_id: str
    event_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    status: DeliveryStatus = Field(description="dead: given up on (every attempt failed, or 410 Gone)")
    attempts: int
    response_code: int | None = Field(description="The last attempt's HTTP status; null when nothing answered")
    latency_ms: int | None = Field(description="The last attempt's time to its answer")
    last_error: str | None
    next_attempt_at: UtcTime | None = Field(description="When it is tried again; null when it is not")
    created_at: UtcTime
    attempted_at: UtcTime | None


class MemberStats(Model):
    user_id: str
    completions: int
    points: int
    on_time_rate: float
    current_streak: int
    best_streak: int
    share: float = Field(description="The member's part of the work, by estimated minutes (0..1)")
    missed: int = Field(
        description="Occurrences they held that were missed (open at due time + grace), due in the window"
    )


class HouseholdTotals(Model):
    completions: int
    completion_rate: float = Field(
        description="completions / (completions + overdue) in the window; skipped occurrences count in neither"
    )
    overdue: int = Field(description="Missed occurrences due in the window, whoever held them")
    fairness: float = Field(description="1.0 when every member's share is equal")


class Stats(Model):
    from_: UtcTime | None = Field(alias="from")
    to: UtcTime | None
    members: list[MemberStats]
    household: HouseholdTotals


# --- lists ------------------------------------------------------------------------------------------

ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(Model, Generic[ItemT]):
    items: list[ItemT]
    next_page_token: str = Field(description="Pass as ?page_token= for the next page; empty on the last page")


class HouseholdPage(Page[Household]):
    pass


class MemberPage(Page[Member]):
    pass


class ChorePage(Page[Chore]):
    pass


class CompletionPage(Page[Completion]):
    pass


class Occurrence(Model):
    id: str
    chore_id: str
    due_at: UtcTime = Field(description="When the occurrence was due")
    assignee_id: str | None = Field(description="Who held it")
    outcome: Literal["done", "skipped", "missed"]
    completed_by: str | None = Field(description="Who did it (done)")
    recorded_by: str | None = Field(description="Who recorded the completion or the skip")
    at: UtcTime = Field(description="When it ended")
    completion_id: str | None = Field(description="The completion (done)")


class OccurrencePage(Page[Occurrence]):
    pass


class NotificationPage(Page[Notification]):
    pass


class RewardPage(Page[Reward]):
    pass


class CategoryPage(Page[Category]):
    pass


class WebhookPage(Page[Webhook]):
    pass


class WebhookDeliveryPage(Page[WebhookDelivery]):
    pass


# --- operations -------------------------------------------------------------------------------------

ComponentState = Literal["ok", "degraded", "down"]


class Check(Model):
    status: ComponentState
    detail: str = Field(
        description="The gRPC serving status, SELECT 1, PONG, a measure, or why the check failed (a gRPC status"
        " name, 'timeout after N ms', an exception's class name; never an address)"
    )
    latency_ms: float = Field(description="How long the check took")


class OutboxLag(Model):
    backlog: int = Field(description="Outbox rows not yet published to the service's event stream")
    oldest_age_seconds: float = Field(description="Age of the oldest of them; 0 without a backlog")


class Component(Check):
    """A part of the system. A service adds its database, Redis, outbox lag and memory (from its status RPC;
    null where it did not answer); memory and disk add their measures."""

    database: Check | None = None
    redis: Check | None = None
    outbox: OutboxLag | None = None
    rss_bytes: int | None = Field(default=None, description="Resident memory of the process")
    limit_bytes: int | None = Field(default=None, description="GATEWAY_HEALTH_MEMORY_LIMIT_MB, in bytes")
    free_bytes: int | None = None
    total_bytes: int | None = None
    min_free_bytes: int | None = Field(default=None, description="GATEWAY_HEALTH_DISK_MIN_FREE_MB, in bytes")


class Liveness(Model):
    status: Literal["ok"]


class Readiness(Model):
    status: Literal["ok", "unavailable"]
    components: dict[str, Check] = Field(description="user and task: their grpc.health.v1 answers")


class SystemStatus(Model):
    status: ComponentState = Field(description="The worst of the components' states")
    checked_at: UtcTime
    components: dict[str, Component]


class PartStatus(Model):
    status: ComponentState = Field(description="The worst of the components' states")
    components: dict[str, Component]


class HistoryEntry(Model):
    checked_at: UtcTime
    status: ComponentState
    components: dict[str, ComponentState]


class History(Model):
    status: Literal["ok", "degraded"] = Field(description="degraded: Redis, where the history is kept, did not answer")
    checks: list[HistoryEntry] = Field(description="Newest first, at most GATEWAY_HEALTH_HISTORY_SIZE")
    detail: str | None = Field(default=None, description="Why there is no history, when Redis did not answer")


class ComponentTest(Model):
    component: str
    status: ComponentState
    checked_at: UtcTime
    fresh: bool = Field(
        description="true: this request ran the check; false: it got the run of a request within the cooldown"
    )
    result: Component


class MetricsSummary(Model):
    window_seconds: float = Field(description="What the numbers cover: about the window, or since start if shorter")
    requests: int = Field(description="API requests answered in the window (the operations routes not counted)")
    requests_per_second: float
    errors: int = Field(description="Of them, 5xx answers")
    error_ratio: float
    p99_ms: float | None = Field(description="99th percentile latency; null without requests")


# --- problems ---------------------------------------------------------------------------------------


class FieldError(Model):
    field: str = Field(description="The JSON field, dotted for nested ones (recurrence.kind)")
    message: str


class Problem(Model):
    """RFC 9457 problem details, the body of every error (`application/problem+json`)."""

    type: str = Field(json_schema_extra={"format": "uri"}, examples=["https://hearth.dev/problems/not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine string: validation_failed, not_found, conflict, ...")
    correlation_id: str = Field(description="Also in the X-Correlation-ID header, the logs and the trace")
    # Left out of the JSON when there are none.
    errors: list[FieldError] = Field(default=[], description="Per-field errors of a validation_failed")


class BatchResult(Model):
    index: int = Field(description="The item's position in the request's `items`")
    chore: Chore | None = Field(default=None, description="The chore made; absent when the item was refused")
    error: Problem | None = Field(
        default=None,
        description="Why the item was refused, as POST …/chores would have answered it; in an atomic batch, the items "
        "that were valid answer 409 conflict (nothing was created)",
    )


class BatchResults(Model):
    results: list[BatchResult] = Field(description="One per request item, in the request's order")


class CalendarFeed(Model):
    token: str = Field(description="The feed's credential, shown only now (32 random bytes, URL-safe base64)")
    url: str = Field(description="The feed to subscribe to in a calendar app: GET …/calendar.ics?token=")
    created_at: UtcTime


class StreamTicket(Model):
    ticket: str = Field(
        description="Opens the caller's live stream of the household once: `?ticket=` on GET"
        " …/events or /ws. Shown only now; single-use"
    )
    expires_in: int = Field(description="Seconds it stays valid (at most 60)")


class OnlineMember(Model):
    user_id: str
    display_name: str = Field(description="Empty while notify does not know the member's name yet")
    connections: int = Field(description="Live connections (SSE, WebSocket) the member has open to the household")


class PresencePage(Model):
    items: list[OnlineMember]


# --- examples ---------------------------------------------------------------------------------------

_HID = "0192f1a2-7c3e-7d41-9a55-3b1f0c2d4e51"
_ALICE = "0192f1a0-11aa-7b2c-8d3e-4f5a6b7c8d90"
_BOB = "0192f1a0-22bb-7c3d-9e4f-5a6b7c8d9e01"
_CHORE = "0192f1a3-5b6c-7d8e-9f01-2a3b4c5d6e7f"
_WHEN = "2026-11-22T18:00:00Z"

USER = User(
    id=_ALICE,
    email="alice@example.com",
    display_name="Alice",
    timezone="Europe/Berlin",
    locale="de",
    created_at="2026-11-01T09:30:00Z",
    updated_at="2026-11-01T09:30:00Z",
)
NOTIFICATION_PREFERENCES = NotificationPreferences(
    events={
        "chore.due_soon": {"in_app": True, "email": True, "push": True},
        "chore.completed": {"in_app": True, "email": False, "push": False},
        "weekly_summary": {"email": True},
    },
    quiet_hours=QuietHours(start="22:00", end="07:00"),
    reminder_lead_minutes=60,
    timezone="Europe/Berlin",
)
UNSUBSCRIBED = Unsubscribed(category="chore.completed", email=False)
TOKENS = Tokens(access_token="eyJhbGciOiJFZERTQSJ9...", refresh_token="hr_4Fq...", token_type="Bearer", expires_in=900)
JWKS = Jwks(
    keys=[
        Jwk(
            kty="OKP",
            crv="Ed25519",
            x="11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            kid="kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            alg="EdDSA",
            use="sig",
        )
    ]
)
HOUSEHOLD = Household(
    id=_HID,
    name="Flat 3b",
    timezone="Europe/Berlin",
    role="owner",
    created_at="2026-11-01T09:31:00Z",
    updated_at="2026-11-01T09:31:00Z",
)
INVITE = Invite(
    id="0192f1a2-9d8c-7b6a-8594-a3b2c1d0e9f8",
    household_id=_HID,
    code="hi_J7k2mQ9x",
    role="member",
    email=None,
    expires_at="2026-11-08T09:32:00Z",
    created_at="2026-11-01T09:32:00Z",
)
MEMBER = Member(user_id=_BOB, household_id=_HID, display_name="Bob", role="member", joined_at="2026-11-01T10:02:00Z")
AWAY = Away(user_id=_BOB, household_id=_HID, start="2026-12-20T00:00:00Z", to="2027-01-06T00:00:00Z")
CHORE = Chore(
    id=_CHORE,
    household_id=_HID,
    title="Vacuum",
    description="Living room and hall",
    category="cleaning",
    labels=["weekly"],
    points=20,
    estimated_minutes=30,
    recurrence=IntervalRecurrence(kind="interval", every=1, unit="weeks", rolling=False),
    assignment=Assignment(
        strategy="fixed",
        assignees=[_ALICE, _BOB],
        rotate="on_completion",
        on_miss="keep",
        grace_minutes=0,
        miss_penalty_points=0,
    ),
    next_due_at=_WHEN,
    assignee_id=_ALICE,
    status="active",
    reminders=[Reminder(before_minutes=60)],
    requires_photo=False,
    requires_approval=False,
    subtasks=[
        Subtask(id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e20", title="Move the sofa", done=True),
        Subtask(id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e21", title="Empty the bag", done=False),
    ],
    created_by=_ALICE,
    last_completed_at=None,
    created_at="2026-11-01T09:40:00Z",
    updated_at="2026-11-01T09:40:00Z",
    etag="1",
)
COMPLETION = Completion(
    id="0192f1b0-aa11-7b22-8c33-d44e55f66a77",
    household_id=_HID,
    chore_id=_CHORE,
    completed_by=_ALICE,
    completed_at="2026-11-22T17:45:12Z",
    note="Under the sofa too",
    photo_id=None,
    points=20,
    due_at=_WHEN,
    on_time=True,
    recorded_by=None,
    subtasks_done=[DoneSubtask(id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e20", title="Move the sofa")],
    created_at="2026-11-22T17:45:12Z",
    status="approved",
    reviewed_by=None,
    reviewed_at=None,
    review_note=None,
    assignee_id=_ALICE,
)
OCCURRENCE = Occurrence(
    id="0192f1b0-aa11-7b22-8c33-d44e55f66a78",
    chore_id=_CHORE,
    due_at=_WHEN,
    assignee_id=_ALICE,
    outcome="done",
    completed_by=_ALICE,
    recorded_by=_ALICE,
    at="2026-11-22T17:45:12Z",
    completion_id="0192f1b0-aa11-7b22-8c33-d44e55f66a77",
)
OCCURRENCE_PAGE = OccurrencePage(items=[OCCURRENCE], next_page_token="")
COMPLETED_CHORE = CompletedChore(
    **COMPLETION.model_dump(),
    chore=CHORE.model_copy(
        update={
            "next_due_at": "2026-11-29T18:00:00Z",
            "last_completed_at": "2026-11-22T17:45:12Z",
            "etag": "2",
        }
    ),
)
NOTIFICATION = Notification(
    id="0192f1b1-0c1d-7e2f-8a3b-4c5d6e7f8091",
    type="chore.completed",
    title="Alice completed Vacuum",
    body="+20 points",
    household_id=_HID,
    subject=f"households/{_HID}/chores/{_CHORE}",
    actor_id=_ALICE,
    created_at="2026-11-22T17:45:13Z",
    read_at=None,
    read=False,
)
PUSH_SUBSCRIPTION = PushSubscription(
    id="0193a2d0-5b1e-7f4a-9c3d-2e8f7a6b5c41",
    endpoint="https://updates.push.services.mozilla.com/wpush/v2/gAAAAABn2x",
    created_at="2026-12-06T20:15:00Z",
    expires_at=None,
)
PUSH_SUBSCRIPTION_LIST = PushSubscriptionList(items=[PUSH_SUBSCRIPTION])
VAPID_PUBLIC_KEY = VapidPublicKey(
    public_key="BNbxGYNMhEIi9zrneh7mqV4oUanjLUK3m-mYZBc62frMKrEoMk88r3Lk596T0ck9xlT-aok0VXnBM3dSSjK1vXo"
)
STATS = Stats.model_validate(
    {
        "from": "2026-10-23T18:00:00Z",
        "to": "2026-11-22T18:00:00Z",
        "members": [
            MemberStats(
                user_id=_ALICE,
                completions=6,
                points=120,
                on_time_rate=0.83,
                current_streak=3,
                best_streak=4,
                share=0.6,
                missed=0,
            ),
            MemberStats(
                user_id=_BOB,
                completions=4,
                points=80,
                on_time_rate=1.0,
                current_streak=4,
                best_streak=4,
                share=0.4,
                missed=1,
            ),
        ],
        "household": HouseholdTotals(completions=10, completion_rate=0.91, overdue=1, fairness=0.8),
    }
)
_DB = Check(status="ok", detail="SELECT 1", latency_ms=0.7)
_PONG = Check(status="ok", detail="PONG", latency_ms=0.3)
_UNKNOWN = "not known: the service did not answer"


def _service(latency: float, rss_mib: int, backlog: int = 0) -> Component:
    return Component(
        status="ok",
        detail="SERVING",
        latency_ms=latency,
        database=_DB,
        redis=_PONG,
        outbox=OutboxLag(backlog=backlog, oldest_age_seconds=0.8 if backlog else 0.0),
        rss_bytes=rss_mib * 2**20,
    )


_SERVICES = {
    "user": _service(1.2, 96),
    "task": _service(1.1, 104, backlog=2),
    "notify": _service(1.3, 88),
    "analytics": _service(1.0, 90),
}
_TASK_DOWN = Component(
    status="down",
    detail="UNAVAILABLE",
    latency_ms=1.9,
    database=Check(status="down", detail=_UNKNOWN, latency_ms=0.0),
    redis=Check(status="degraded", detail=_UNKNOWN, latency_ms=0.0),
    outbox=None,
    rss_bytes=None,
)
_MEMORY = Component(
    status="ok",
    detail="RSS 112 MiB within the limit of 1024 MiB",
    latency_ms=0.1,
    rss_bytes=112 * 2**20,
    limit_bytes=2**30,
)
_DISK = Component(
    status="ok",
    detail="51200 MiB free, over the minimum of 1024 MiB",
    latency_ms=0.2,
    free_bytes=50 * 2**30,
    total_bytes=100 * 2**30,
    min_free_bytes=2**30,
)
_COMPONENTS = {
    **_SERVICES,
    "redis": Component(status="ok", detail="PONG", latency_ms=0.4),
    "memory": _MEMORY,
    "disk": _DISK,
}
_DOWN = {**_COMPONENTS, "task": _TASK_DOWN}
_READY = {
    "user": Check(status="ok", detail="SERVING", latency_ms=1.2),
    "task": Check(status="ok", detail="SERVING", latency_ms=1.1),
}
_NEXT = "eyJrIjpbIjIwMjYtMTEtMjJUMTg6MDA6MDBaIl19"
HOUSEHOLD_PAGE = HouseholdPage(items=[HOUSEHOLD], next_page_token="")
MEMBER_PAGE = MemberPage(
    items=[
        Member(user_id=_ALICE, household_id=_HID, display_name="Alice", role="owner", joined_at="2026-11-01T09:31:00Z"),
        MEMBER,
    ],
    next_page_token="",
)
CHORE_PAGE = ChorePage(items=[CHORE], next_page_token=_NEXT)
BATCH_RESULTS = BatchResults(
    results=[
        BatchResult(index=0, chore=CHORE),
        BatchResult(
            index=1,
            error=Problem(
                type="https://hearth.dev/problems/validation_failed",
                title="The request is not valid",
                status=422,
                detail="assignment.assignees[0]: is not a member of this household",
                code="validation_failed",
                correlation_id="5b0e3c1a9d7f4e2b8c6a1f0e3d2c1b0a",
                errors=[FieldError(field="assignment.assignees[0]", message="is not a member of this household")],
            ),
        ),
    ]
)
COMPLETION_PAGE = CompletionPage(items=[COMPLETION], next_page_token="")
NOTIFICATION_PAGE = NotificationPage(items=[NOTIFICATION], next_page_token="")
_REWARD_ID = "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e01"
REWARD = Reward(
    id=_REWARD_ID,
    household_id=_HID,
    title="Ice cream",
    description=None,
    cost=50,
    created_by=_ALICE,
    created_at="2026-11-20T10:00:00Z",
)
REWARD_PAGE = RewardPage(items=[REWARD], next_page_token="")
CATEGORY = Category(
    id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e10",
    household_id=_HID,
    name="cleaning",
    chore_count=4,
    created_at="2026-11-01T09:40:00Z",
    updated_at="2026-11-01T09:40:00Z",
)
CATEGORY_PAGE = CategoryPage(items=[CATEGORY], next_page_token="")
_WEBHOOK_ID = "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e20"
WEBHOOK = Webhook(
    id=_WEBHOOK_ID,
    household_id=_HID,
    url="https://hooks.example.com/hearth",
    events=["chore.completed", "member.joined"],
    description="Our dashboard",
    state="active",
    disabled_reason=None,
    disabled_at=None,
    previous_secret_expires_at=None,
    created_at="2026-11-01T09:40:00Z",
    updated_at="2026-11-01T09:40:00Z",
)
WEBHOOK_WITH_SECRET = WebhookWithSecret(
    **WEBHOOK.model_dump(), secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0SKsQOSCQTc="
)
WEBHOOK_PAGE = WebhookPage(items=[WEBHOOK], next_page_token="")
WEBHOOK_DELIVERY = WebhookDelivery(
    id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e21",
    webhook_id=_WEBHOOK_ID,
    event_id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e22",
    event_type="chore.completed",
    status="pending",
    attempts=2,
    response_code=503,
    latency_ms=184,
    last_error="HTTP 503: busy",
    next_attempt_at="2026-11-01T09:40:20Z",
    created_at="2026-11-01T09:40:00Z",
    attempted_at="2026-11-01T09:40:10Z",
)
WEBHOOK_DELIVERY_PAGE = WebhookDeliveryPage(items=[WEBHOOK_DELIVERY], next_page_token="")
POINTS = Points(
    user_id=_ALICE,
    balance=20,
    items=[
        PointEntry(
            id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e02",
            user_id=_ALICE,
            delta=-50,
            reason="redemption",
            completion_id=None,
            reward_id=_REWARD_ID,
            balance=20,
            created_at="2026-11-23T08:00:00Z",
        ),
        PointEntry(
            id="0192f1b0-aa11-7b22-8c33-d44e55f66a78",
            user_id=_ALICE,
            delta=20,
            reason="completion",
            completion_id="0192f1b0-aa11-7b22-8c33-d44e55f66a77",
            reward_id=None,
            balance=70,
            created_at="2026-11-22T17:45:12Z",
        ),
    ],
    next_page_token="",
)
REDEMPTION = Redemption(
    id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6e02",
    household_id=_HID,
    reward_id=_REWARD_ID,
    user_id=_ALICE,
    cost=50,
    balance=20,
    created_at="2026-11-23T08:00:00Z",
)
LIVENESS = Liveness(status="ok")
READY = Readiness(status="ok", components=_READY)
NOT_READY = Readiness(
    status="unavailable",
    components={**_READY, "task": Check(status="down", detail="UNAVAILABLE", latency_ms=1.9)},
)
STATUS_OK = SystemStatus(status="ok", checked_at=_WHEN, components=_COMPONENTS)
STATUS_DOWN = SystemStatus(status="down", checked_at=_WHEN, components=_DOWN)
SERVICES_OK = SystemStatus(status="ok", checked_at=_WHEN, components=_SERVICES)
DATABASES_OK = PartStatus(status="ok", components={name: Component(**_DB.model_dump()) for name in _SERVICES})
DATABASES_DOWN = PartStatus(
    status="down",
    components={
        **DATABASES_OK.components,
        "task": Component(status="down", detail="timeout after 1000 ms", latency_ms=1000.6),
    },
)
CACHES_OK = PartStatus(
    status="ok", components={name: Component(**_PONG.model_dump()) for name in ("gateway", *_SERVICES)}
)
MEMORY_OK = PartStatus(status="ok", components={"gateway": _MEMORY})
DISK_OK = PartStatus(status="ok", components={"disk": _DISK})
HISTORY = History(
    status="ok",
    checks=[
        HistoryEntry(
            checked_at=_WHEN,
            status="degraded",
            components={**dict.fromkeys(_COMPONENTS, "ok"), "notify": "degraded"},
        )
    ],
)
TEST_OK = ComponentTest(component="redis", status="ok", checked_at=_WHEN, fresh=True, result=_COMPONENTS["redis"])
TEST_DOWN = ComponentTest(component="task", status="down", checked_at=_WHEN, fresh=True, result=_TASK_DOWN)
METRICS_SUMMARY = MetricsSummary(
    window_seconds=60.2, requests=1204, requests_per_second=20.0, errors=3, error_ratio=0.0025, p99_ms=41.7
)


class Session(Model):
    id: str
    device: str = Field(description='What signed in, from its User-Agent: "Firefox on Linux"')
    user_agent: str
    ip: str = Field(description="The address it signed in from")
    created_at: str
    last_used_at: str = Field(description="The last refresh of its tokens")
    expires_at: str
    current: bool = Field(description="The session of the token this request came with")


class SessionPage(Page[Session]):
    pass


class RevokedSessions(Model):
    revoked: list[str] = Field(description="The ids of the sessions ended")


class AuditEvent(Model):
    id: str
    action: str = Field(description='e.g. "login.succeeded", "login.failed", "session.revoked", "member.role_changed"')
    actor_id: str = Field(description="Who did it; empty for an anonymous attempt")
    target: str = Field(description="What it concerned, as a resource name")
    ip: str
    user_agent: str
    correlation_id: str
    created_at: str
    details: dict[str, Any]


class AuditPage(Page[AuditEvent]):
    pass


class ApiKey(Model):
    id: str
    name: str
    scopes: list[str]
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: str
    expires_at: str | None = Field(description="After it the key no longer works; null: no expiry")
    last_used_at: str | None = Field(
        description="The last time it was exchanged for an access token (accurate to"
        " the access token's lifetime); null: never used"
    )


class CreatedApiKey(ApiKey):
    key: str = Field(description="The key (hk_…): shown in this answer only, stored hashed; use it as a bearer token")


class ApiKeyPage(Page[ApiKey]):
    pass


class AccountDeleted(Model):
    id: str = Field(description="The account that was deleted")
    status: Literal["deleted"]


class Export(Model):
    id: str
    status: Literal["pending", "done", "failed"] = Field(description="`pending` until the archive is made")
    created_at: UtcTime
    expires_at: UtcTime | None = Field(description="When a finished archive is deleted: from then on, 410")
    size_bytes: int = Field(description="The archive's size (0 until it is done)")
    error: str = Field(description="Why it failed (`failed` only; empty otherwise)")
    download_url: str | None = Field(
        description="The zip (one JSON file per service), for its owner's access token only; null until `done`"
    )


_SESSION_ID = "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6b10"
SESSION = Session(
    id=_SESSION_ID,
    device="Firefox on Linux",
    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ip="203.0.113.7",
    created_at="2026-11-22T18:00:00Z",
    last_used_at="2026-11-23T07:45:00Z",
    expires_at="2026-12-22T18:00:00Z",
    current=True,
)
SESSION_PAGE = SessionPage(items=[SESSION], next_page_token="")
REVOKED_SESSIONS = RevokedSessions(revoked=["0193a0c4-7d2e-7c31-9a55-3c8f2d1e6b11"])
_API_KEY = dict(
    id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6d01",
    name="Home Assistant",
    scopes=["chores:read", "chores:write"],
    prefix="hk_Xq3vN8aT",
    created_at="2026-11-22T18:00:00Z",
    expires_at=None,
    last_used_at="2026-11-23T07:45:00Z",
)
API_KEY_PAGE = ApiKeyPage(items=[ApiKey(**_API_KEY)], next_page_token="")
CREATED_API_KEY = CreatedApiKey(
    **{**_API_KEY, "last_used_at": None}, key="hk_Xq3vN8aTq0m5c2yZr7LwPb9sKdE1fGhJuV4nXoQeR6t"
)
AUDIT_PAGE = AuditPage(
    items=[
        AuditEvent(
            id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6c01",
            action="login.succeeded",
            actor_id=_ALICE,
            target=f"users/{_ALICE}/sessions/{_SESSION_ID}",
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            correlation_id="3f1c9a2e8b7d4c6a",
            created_at="2026-11-22T18:00:00Z",
            details={},
        )
    ],
    next_page_token="",
)
HOUSEHOLD_AUDIT_PAGE = AuditPage(
    items=[
        AuditEvent(
            id="0193a0c4-7d2e-7c31-9a55-3c8f2d1e6c02",
            action="member.role_changed",
            actor_id=_ALICE,
            target=f"households/{_HID}/members/{_BOB}",
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            correlation_id="5d0e7b1a9c3f4e28",
            created_at="2026-11-22T18:05:00Z",
            details={"from": "member", "to": "admin"},
        )
    ],
    next_page_token="",
)


# --- the second factor (TOTP) -----------------------------------------------------------------------------


class TotpEnrollment(Model):
    secret: str = Field(description="The new secret in base32, for typing into an authenticator app")
    otpauth_uri: str = Field(description="The same as an otpauth:// URI, for a QR code")


class RecoveryCodes(Model):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes that stand in for the app's code; shown this once, stored only hashed"
    )


class Accepted(Model):
    status: Literal["accepted"] = Field(description="Taken; what follows happens in the background")


ACCEPTED = Accepted(status="accepted")
TOTP_ENROLLMENT = TotpEnrollment(
    secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    otpauth_uri="otpauth://totp/Hearth:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Hearth",
)
RECOVERY_CODES = RecoveryCodes(
    recovery_codes=[
        "K7QX2-MZP4D",
        "R3TWA-9BVNE",
        "HD6PJ-Q2XKS",
        "W4MZC-7LRGA",
        "B2NVE-XQ5TJ",
        "P7HDK-3WMZR",
        "Z5QAS-LN2VX",
        "C6TGB-J4RPM",
        "E3XWN-KQ7DH",
        "M2LPZ-VA6SQ",
    ]
)
ACCOUNT_DELETED = AccountDeleted(id=_ALICE, status="deleted")
_EXPORT_ID = "0193a0c4-7d2e-7c31-9a55-3c8f2d1e6d01"
EXPORT_PENDING = Export(
    id=_EXPORT_ID,
    status="pending",
    created_at="2026-11-22T18:00:00Z",
    expires_at=None,
    size_bytes=0,
    error="",
    download_url=None,
)
EXPORT_DONE = Export(
    id=_EXPORT_ID,
    status="done",
    created_at="2026-11-22T18:00:00Z",
    expires_at="2026-11-29T18:00:05Z",
    size_bytes=48213,
    error="",
    download_url=f"/api/v1/users/me/exports/{_EXPORT_ID}/archive",
)
_FEED_TOKEN = "pQ3v9XkT2mL8sR4wY7zA1bC6dE0fG5hJ9kN2oP4qS8u"
CALENDAR_FEED = CalendarFeed(
    token=_FEED_TOKEN,
    url=f"https://hearth.example/api/v1/households/{_HID}/calendar.ics?token={_FEED_TOKEN}",
    created_at="2026-11-22T18:00:00Z",
)


# --- photos -------------------------------------------------------------------------------------------------------


class Photo(Model):
    id: str
    url: str = Field(description="GET it (members only): the stored image, metadata stripped")
    thumbnail_url: str = Field(
        description="GET it once `thumbnail_ready`; before the worker made it: 404 `not_ready`, ask again"
    )
    content_type: Literal["image/jpeg", "image/png", "image/webp"] = Field(
        description="What the content is (its bytes decide, not the name or type it was sent with)"
    )
    size: int = Field(description="Bytes as stored")
    width: int
    height: int
    sha256: str = Field(description="Hex SHA-256 of the stored bytes; the image's ETag")
    uploaded_by: str | None = Field(description="The uploader's user id; null once their account was erased")
    thumbnail_ready: bool
    created_at: UtcTime


_PHOTO = "0192f1a6-2b3c-7d4e-8f50-617283940a1b"
PHOTO = Photo(
    id=_PHOTO,
    url=f"https://hearth.example/api/v1/households/{_HID}/photos/{_PHOTO}",
    thumbnail_url=f"https://hearth.example/api/v1/households/{_HID}/photos/{_PHOTO}/thumbnail",
    content_type="image/jpeg",
    size=183_211,
    width=1200,
    height=1600,
    sha256="9f2c4e1d0b7a8c3f5e6d4b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e",
    uploaded_by=_ALICE,
    thumbnail_ready=False,
    created_at=_WHEN,
)


# --- live events ---------------------------------------------------------------------------------------------------

STREAM_TICKET = StreamTicket(ticket="hQ0vX2m9c1Yt4sKpLwZr8NbA6eJdUf3GiOq5TyCx7Vk", expires_in=60)
PRESENCE_PAGE = PresencePage(items=[OnlineMember(user_id=_ALICE, display_name="Alice", connections=2)])
