import datetime

from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
event_type: _descriptor.FieldDescriptor
EVENT_PRODUCER_FIELD_NUMBER: _ClassVar[int]
event_producer: _descriptor.FieldDescriptor

class Envelope(_message.Message):
    __slots__ = ("event_id", "type", "occurred_at", "household_id", "actor_id", "traceparent", "payload", "source", "correlation_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    household_id: str
    actor_id: str
    traceparent: str
    payload: _any_pb2.Any
    source: str
    correlation_id: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., household_id: _Optional[str] = ..., actor_id: _Optional[str] = ..., traceparent: _Optional[str] = ..., payload: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., source: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class UserRegistered(_message.Message):
    __slots__ = ("user_id", "display_name", "time_zone", "locale", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    display_name: str
    time_zone: str
    locale: str
    email: str
    def __init__(self, user_id: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., locale: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class HouseholdCreated(_message.Message):
    __slots__ = ("household_id", "display_name", "time_zone", "owner_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    display_name: str
    time_zone: str
    owner_id: str
    def __init__(self, household_id: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class MemberJoined(_message.Message):
    __slots__ = ("household_id", "user_id", "display_name", "role", "joined_at")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    display_name: str
    role: str
    joined_at: _timestamp_pb2.Timestamp
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[str] = ..., joined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MemberUpdated(_message.Message):
    __slots__ = ("household_id", "user_id", "role")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    role: str
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class MemberLeft(_message.Message):
    __slots__ = ("household_id", "user_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class UserUpdated(_message.Message):
    __slots__ = ("user_id", "display_name", "time_zone", "locale", "changed", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    display_name: str
    time_zone: str
    locale: str
    changed: _containers.RepeatedScalarFieldContainer[str]
    email: str
    def __init__(self, user_id: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., locale: _Optional[str] = ..., changed: _Optional[_Iterable[str]] = ..., email: _Optional[str] = ...) -> None: ...

class HouseholdUpdated(_message.Message):
    __slots__ = ("household_id", "display_name", "time_zone", "changed", "member_ids")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    display_name: str
    time_zone: str
    changed: _containers.RepeatedScalarFieldContainer[str]
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, household_id: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., changed: _Optional[_Iterable[str]] = ..., member_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SessionRevoked(_message.Message):
    __slots__ = ("session_id", "user_id", "expire_time", "reason")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    user_id: str
    expire_time: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class UserDeleted(_message.Message):
    __slots__ = ("user_id", "household_ids")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_IDS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    household_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., household_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class HouseholdDeleted(_message.Message):
    __slots__ = ("household_id",)
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    def __init__(self, household_id: _Optional[str] = ...) -> None: ...

class MemberAwaySet(_message.Message):
    __slots__ = ("household_id", "user_id", "start_time", "end_time")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MemberAwayCleared(_message.Message):
    __slots__ = ("household_id", "user_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ChoreCreated(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "assignee_id", "next_due_at", "points")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    assignee_id: str
    next_due_at: _timestamp_pb2.Timestamp
    points: int
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., assignee_id: _Optional[str] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points: _Optional[int] = ...) -> None: ...

class ChoreCompleted(_message.Message):
    __slots__ = ("household_id", "chore_id", "completion_id", "title", "completed_by", "completed_at", "due_at", "points", "estimated_minutes", "on_time", "next_due_at", "next_assignee_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    ON_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    completion_id: str
    title: str
    completed_by: str
    completed_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    points: int
    estimated_minutes: int
    on_time: bool
    next_due_at: _timestamp_pb2.Timestamp
    next_assignee_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., completion_id: _Optional[str] = ..., title: _Optional[str] = ..., completed_by: _Optional[str] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points: _Optional[int] = ..., estimated_minutes: _Optional[int] = ..., on_time: _Optional[bool] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_assignee_id: _Optional[str] = ...) -> None: ...

class ChoreSkipped(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "skipped_by", "due_at", "next_due_at", "next_assignee_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_BY_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    skipped_by: str
    due_at: _timestamp_pb2.Timestamp
    next_due_at: _timestamp_pb2.Timestamp
    next_assignee_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., skipped_by: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_assignee_id: _Optional[str] = ...) -> None: ...

class ChoreSnoozed(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "previous_due_at", "next_due_at", "assignee_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    previous_due_at: _timestamp_pb2.Timestamp
    next_due_at: _timestamp_pb2.Timestamp
    assignee_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., previous_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignee_id: _Optional[str] = ...) -> None: ...

class CompletionUndone(_message.Message):
    __slots__ = ("household_id", "chore_id", "completion_id", "title", "completed_by", "points", "next_due_at", "assignee_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    completion_id: str
    title: str
    completed_by: str
    points: int
    next_due_at: _timestamp_pb2.Timestamp
    assignee_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., completion_id: _Optional[str] = ..., title: _Optional[str] = ..., completed_by: _Optional[str] = ..., points: _Optional[int] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignee_id: _Optional[str] = ...) -> None: ...

class CompletionSubmitted(_message.Message):
    __slots__ = ("household_id", "chore_id", "completion_id", "title", "completed_by", "points", "completed_at")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    completion_id: str
    title: str
    completed_by: str
    points: int
    completed_at: _timestamp_pb2.Timestamp
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., completion_id: _Optional[str] = ..., title: _Optional[str] = ..., completed_by: _Optional[str] = ..., points: _Optional[int] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompletionApproved(_message.Message):
    __slots__ = ("household_id", "chore_id", "completion_id", "title", "completed_by", "approved_by", "points")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    completion_id: str
    title: str
    completed_by: str
    approved_by: str
    points: int
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., completion_id: _Optional[str] = ..., title: _Optional[str] = ..., completed_by: _Optional[str] = ..., approved_by: _Optional[str] = ..., points: _Optional[int] = ...) -> None: ...

class CompletionRejected(_message.Message):
    __slots__ = ("household_id", "chore_id", "completion_id", "title", "completed_by", "rejected_by", "note", "reopened", "next_due_at", "assignee_id", "missed_occurrence_id", "missed_due_at", "missed_assignee_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    REJECTED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REOPENED_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    MISSED_OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    MISSED_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    MISSED_ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    completion_id: str
    title: str
    completed_by: str
    rejected_by: str
    note: str
    reopened: bool
    next_due_at: _timestamp_pb2.Timestamp
    assignee_id: str
    missed_occurrence_id: str
    missed_due_at: _timestamp_pb2.Timestamp
    missed_assignee_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., completion_id: _Optional[str] = ..., title: _Optional[str] = ..., completed_by: _Optional[str] = ..., rejected_by: _Optional[str] = ..., note: _Optional[str] = ..., reopened: _Optional[bool] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignee_id: _Optional[str] = ..., missed_occurrence_id: _Optional[str] = ..., missed_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., missed_assignee_id: _Optional[str] = ...) -> None: ...

class ChoreUpdated(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "changed", "assignee_id", "next_due_at")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    changed: _containers.RepeatedScalarFieldContainer[str]
    assignee_id: str
    next_due_at: _timestamp_pb2.Timestamp
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., changed: _Optional[_Iterable[str]] = ..., assignee_id: _Optional[str] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PointsChanged(_message.Message):
    __slots__ = ("household_id", "user_id", "entry_id", "delta", "reason", "balance", "completion_id", "reward_id", "occurrence_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    entry_id: str
    delta: int
    reason: str
    balance: int
    completion_id: str
    reward_id: str
    occurrence_id: str
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., entry_id: _Optional[str] = ..., delta: _Optional[int] = ..., reason: _Optional[str] = ..., balance: _Optional[int] = ..., completion_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., occurrence_id: _Optional[str] = ...) -> None: ...

class ChoreOverdue(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "assignee_id", "due_at", "grace_minutes", "penalty_points", "next_due_at", "next_assignee_id", "occurrence_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    GRACE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PENALTY_POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    assignee_id: str
    due_at: _timestamp_pb2.Timestamp
    grace_minutes: int
    penalty_points: int
    next_due_at: _timestamp_pb2.Timestamp
    next_assignee_id: str
    occurrence_id: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., assignee_id: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grace_minutes: _Optional[int] = ..., penalty_points: _Optional[int] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_assignee_id: _Optional[str] = ..., occurrence_id: _Optional[str] = ...) -> None: ...

class ChoreDueSoon(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "assignee_id", "due_at", "before_minutes")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    assignee_id: str
    due_at: _timestamp_pb2.Timestamp
    before_minutes: int
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., assignee_id: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before_minutes: _Optional[int] = ...) -> None: ...

class ChoreAssigned(_message.Message):
    __slots__ = ("household_id", "chore_id", "title", "assignee_id", "previous_assignee_id", "reason", "next_due_at")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    assignee_id: str
    previous_assignee_id: str
    reason: str
    next_due_at: _timestamp_pb2.Timestamp
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ..., assignee_id: _Optional[str] = ..., previous_assignee_id: _Optional[str] = ..., reason: _Optional[str] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CategoryCreated(_message.Message):
    __slots__ = ("household_id", "category_id", "name")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    category_id: str
    name: str
    def __init__(self, household_id: _Optional[str] = ..., category_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CategoryUpdated(_message.Message):
    __slots__ = ("household_id", "category_id", "name", "previous_name", "chores")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_NAME_FIELD_NUMBER: _ClassVar[int]
    CHORES_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    category_id: str
    name: str
    previous_name: str
    chores: int
    def __init__(self, household_id: _Optional[str] = ..., category_id: _Optional[str] = ..., name: _Optional[str] = ..., previous_name: _Optional[str] = ..., chores: _Optional[int] = ...) -> None: ...

class CategoryDeleted(_message.Message):
    __slots__ = ("household_id", "category_id", "name", "chores")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHORES_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    category_id: str
    name: str
    chores: int
    def __init__(self, household_id: _Optional[str] = ..., category_id: _Optional[str] = ..., name: _Optional[str] = ..., chores: _Optional[int] = ...) -> None: ...

class ChoreArchived(_message.Message):
    __slots__ = ("household_id", "chore_id", "title")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHORE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    chore_id: str
    title: str
    def __init__(self, household_id: _Optional[str] = ..., chore_id: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class NotificationCreated(_message.Message):
    __slots__ = ("household_id", "user_id", "notification_id", "type", "source_event_id")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    notification_id: str
    type: str
    source_event_id: str
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., notification_id: _Optional[str] = ..., type: _Optional[str] = ..., source_event_id: _Optional[str] = ...) -> None: ...

class PresenceChanged(_message.Message):
    __slots__ = ("household_id", "user_id", "online")
    HOUSEHOLD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    household_id: str
    user_id: str
    online: bool
    def __init__(self, household_id: _Optional[str] = ..., user_id: _Optional[str] = ..., online: _Optional[bool] = ...) -> None: ...
