import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from hearth.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Chore(_message.Message):
    __slots__ = ("name", "title", "description", "category", "labels", "points", "estimated_minutes", "recurrence", "assignment", "next_due_time", "assignee", "reminders", "requires_photo", "requires_approval", "state", "creator", "last_completion_time", "create_time", "update_time", "etag", "subtasks")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Chore.State]
        ACTIVE: _ClassVar[Chore.State]
        DONE: _ClassVar[Chore.State]
        ARCHIVED: _ClassVar[Chore.State]
    STATE_UNSPECIFIED: Chore.State
    ACTIVE: Chore.State
    DONE: Chore.State
    ARCHIVED: Chore.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    RECURRENCE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    REMINDERS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_PHOTO_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    LAST_COMPLETION_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    SUBTASKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    category: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    points: int
    estimated_minutes: int
    recurrence: Recurrence
    assignment: Assignment
    next_due_time: _timestamp_pb2.Timestamp
    assignee: str
    reminders: _containers.RepeatedCompositeFieldContainer[Reminder]
    requires_photo: bool
    requires_approval: bool
    state: Chore.State
    creator: str
    last_completion_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    subtasks: _containers.RepeatedCompositeFieldContainer[Subtask]
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., points: _Optional[int] = ..., estimated_minutes: _Optional[int] = ..., recurrence: _Optional[_Union[Recurrence, _Mapping]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., next_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignee: _Optional[str] = ..., reminders: _Optional[_Iterable[_Union[Reminder, _Mapping]]] = ..., requires_photo: _Optional[bool] = ..., requires_approval: _Optional[bool] = ..., state: _Optional[_Union[Chore.State, str]] = ..., creator: _Optional[str] = ..., last_completion_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., subtasks: _Optional[_Iterable[_Union[Subtask, _Mapping]]] = ...) -> None: ...

class Subtask(_message.Message):
    __slots__ = ("id", "title", "done")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    done: bool
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...

class Recurrence(_message.Message):
    __slots__ = ("once", "interval", "weekly", "monthly", "yearly", "rrule", "adaptive", "rolling", "months")
    class Once(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class Interval(_message.Message):
        __slots__ = ("every", "unit")
        class Unit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            UNIT_UNSPECIFIED: _ClassVar[Recurrence.Interval.Unit]
            HOURS: _ClassVar[Recurrence.Interval.Unit]
            DAYS: _ClassVar[Recurrence.Interval.Unit]
            WEEKS: _ClassVar[Recurrence.Interval.Unit]
            MONTHS: _ClassVar[Recurrence.Interval.Unit]
            YEARS: _ClassVar[Recurrence.Interval.Unit]
        UNIT_UNSPECIFIED: Recurrence.Interval.Unit
        HOURS: Recurrence.Interval.Unit
        DAYS: Recurrence.Interval.Unit
        WEEKS: Recurrence.Interval.Unit
        MONTHS: Recurrence.Interval.Unit
        YEARS: Recurrence.Interval.Unit
        EVERY_FIELD_NUMBER: _ClassVar[int]
        UNIT_FIELD_NUMBER: _ClassVar[int]
        every: int
        unit: Recurrence.Interval.Unit
        def __init__(self, every: _Optional[int] = ..., unit: _Optional[_Union[Recurrence.Interval.Unit, str]] = ...) -> None: ...
    class Weekly(_message.Message):
        __slots__ = ("every", "days", "time")
        EVERY_FIELD_NUMBER: _ClassVar[int]
        DAYS_FIELD_NUMBER: _ClassVar[int]
        TIME_FIELD_NUMBER: _ClassVar[int]
        every: int
        days: _containers.RepeatedScalarFieldContainer[str]
        time: str
        def __init__(self, every: _Optional[int] = ..., days: _Optional[_Iterable[str]] = ..., time: _Optional[str] = ...) -> None: ...
    class Monthly(_message.Message):
        __slots__ = ("every", "day_of_month", "weekday", "week")
        EVERY_FIELD_NUMBER: _ClassVar[int]
        DAY_OF_MONTH_FIELD_NUMBER: _ClassVar[int]
        WEEKDAY_FIELD_NUMBER: _ClassVar[int]
        WEEK_FIELD_NUMBER: _ClassVar[int]
        every: int
        day_of_month: int
        weekday: str
        week: int
        def __init__(self, every: _Optional[int] = ..., day_of_month: _Optional[int] = ..., weekday: _Optional[str] = ..., week: _Optional[int] = ...) -> None: ...
    class Yearly(_message.Message):
        __slots__ = ("every", "month", "day")
        EVERY_FIELD_NUMBER: _ClassVar[int]
        MONTH_FIELD_NUMBER: _ClassVar[int]
        DAY_FIELD_NUMBER: _ClassVar[int]
        every: int
        month: int
        day: int
        def __init__(self, every: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...
    class RRule(_message.Message):
        __slots__ = ("rrule",)
        RRULE_FIELD_NUMBER: _ClassVar[int]
        rrule: str
        def __init__(self, rrule: _Optional[str] = ...) -> None: ...
    class Adaptive(_message.Message):
        __slots__ = ("every", "unit")
        EVERY_FIELD_NUMBER: _ClassVar[int]
        UNIT_FIELD_NUMBER: _ClassVar[int]
        every: int
        unit: Recurrence.Interval.Unit
        def __init__(self, every: _Optional[int] = ..., unit: _Optional[_Union[Recurrence.Interval.Unit, str]] = ...) -> None: ...
    ONCE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_FIELD_NUMBER: _ClassVar[int]
    YEARLY_FIELD_NUMBER: _ClassVar[int]
    RRULE_FIELD_NUMBER: _ClassVar[int]
    ADAPTIVE_FIELD_NUMBER: _ClassVar[int]
    ROLLING_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    once: Recurrence.Once
    interval: Recurrence.Interval
    weekly: Recurrence.Weekly
    monthly: Recurrence.Monthly
    yearly: Recurrence.Yearly
    rrule: Recurrence.RRule
    adaptive: Recurrence.Adaptive
    rolling: bool
    months: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, once: _Optional[_Union[Recurrence.Once, _Mapping]] = ..., interval: _Optional[_Union[Recurrence.Interval, _Mapping]] = ..., weekly: _Optional[_Union[Recurrence.Weekly, _Mapping]] = ..., monthly: _Optional[_Union[Recurrence.Monthly, _Mapping]] = ..., yearly: _Optional[_Union[Recurrence.Yearly, _Mapping]] = ..., rrule: _Optional[_Union[Recurrence.RRule, _Mapping]] = ..., adaptive: _Optional[_Union[Recurrence.Adaptive, _Mapping]] = ..., rolling: _Optional[bool] = ..., months: _Optional[_Iterable[int]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("strategy", "assignees", "rotate", "on_miss", "grace_minutes", "miss_penalty_points")
    class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STRATEGY_UNSPECIFIED: _ClassVar[Assignment.Strategy]
        FIXED: _ClassVar[Assignment.Strategy]
        UNASSIGNED: _ClassVar[Assignment.Strategy]
        ROUND_ROBIN: _ClassVar[Assignment.Strategy]
        LEAST_COMPLETED: _ClassVar[Assignment.Strategy]
        LEAST_ASSIGNED: _ClassVar[Assignment.Strategy]
        LEAST_POINTS: _ClassVar[Assignment.Strategy]
        RANDOM: _ClassVar[Assignment.Strategy]
        RANDOM_EXCEPT_LAST: _ClassVar[Assignment.Strategy]
    STRATEGY_UNSPECIFIED: Assignment.Strategy
    FIXED: Assignment.Strategy
    UNASSIGNED: Assignment.Strategy
    ROUND_ROBIN: Assignment.Strategy
    LEAST_COMPLETED: Assignment.Strategy
    LEAST_ASSIGNED: Assignment.Strategy
    LEAST_POINTS: Assignment.Strategy
    RANDOM: Assignment.Strategy
    RANDOM_EXCEPT_LAST: Assignment.Strategy
    class Rotate(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROTATE_UNSPECIFIED: _ClassVar[Assignment.Rotate]
        ON_COMPLETION: _ClassVar[Assignment.Rotate]
        DAILY: _ClassVar[Assignment.Rotate]
        WEEKLY: _ClassVar[Assignment.Rotate]
    ROTATE_UNSPECIFIED: Assignment.Rotate
    ON_COMPLETION: Assignment.Rotate
    DAILY: Assignment.Rotate
    WEEKLY: Assignment.Rotate
    class OnMiss(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ON_MISS_UNSPECIFIED: _ClassVar[Assignment.OnMiss]
        KEEP: _ClassVar[Assignment.OnMiss]
        ADVANCE: _ClassVar[Assignment.OnMiss]
    ON_MISS_UNSPECIFIED: Assignment.OnMiss
    KEEP: Assignment.OnMiss
    ADVANCE: Assignment.OnMiss
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEES_FIELD_NUMBER: _ClassVar[int]
    ROTATE_FIELD_NUMBER: _ClassVar[int]
    ON_MISS_FIELD_NUMBER: _ClassVar[int]
    GRACE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    MISS_PENALTY_POINTS_FIELD_NUMBER: _ClassVar[int]
    strategy: Assignment.Strategy
    assignees: _containers.RepeatedScalarFieldContainer[str]
    rotate: Assignment.Rotate
    on_miss: Assignment.OnMiss
    grace_minutes: int
    miss_penalty_points: int
    def __init__(self, strategy: _Optional[_Union[Assignment.Strategy, str]] = ..., assignees: _Optional[_Iterable[str]] = ..., rotate: _Optional[_Union[Assignment.Rotate, str]] = ..., on_miss: _Optional[_Union[Assignment.OnMiss, str]] = ..., grace_minutes: _Optional[int] = ..., miss_penalty_points: _Optional[int] = ...) -> None: ...

class Reminder(_message.Message):
    __slots__ = ("before_minutes",)
    BEFORE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    before_minutes: int
    def __init__(self, before_minutes: _Optional[int] = ...) -> None: ...

class Completion(_message.Message):
    __slots__ = ("name", "completed_by", "complete_time", "note", "photo", "points", "due_time", "on_time", "create_time", "recorder", "status", "reviewer", "review_time", "review_note", "assignee", "subtasks_done")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Completion.Status]
        APPROVED: _ClassVar[Completion.Status]
        PENDING: _ClassVar[Completion.Status]
        REJECTED: _ClassVar[Completion.Status]
    STATUS_UNSPECIFIED: Completion.Status
    APPROVED: Completion.Status
    PENDING: Completion.Status
    REJECTED: Completion.Status
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    ON_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    REVIEW_NOTE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    SUBTASKS_DONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    completed_by: str
    complete_time: _timestamp_pb2.Timestamp
    note: str
    photo: str
    points: int
    due_time: _timestamp_pb2.Timestamp
    on_time: bool
    create_time: _timestamp_pb2.Timestamp
    recorder: str
    status: Completion.Status
    reviewer: str
    review_time: _timestamp_pb2.Timestamp
    review_note: str
    assignee: str
    subtasks_done: _containers.RepeatedCompositeFieldContainer[Subtask]
    def __init__(self, name: _Optional[str] = ..., completed_by: _Optional[str] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ..., photo: _Optional[str] = ..., points: _Optional[int] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_time: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorder: _Optional[str] = ..., status: _Optional[_Union[Completion.Status, str]] = ..., reviewer: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_note: _Optional[str] = ..., assignee: _Optional[str] = ..., subtasks_done: _Optional[_Iterable[_Union[Subtask, _Mapping]]] = ...) -> None: ...

class BatchCreateChoresRequest(_message.Message):
    __slots__ = ("parent", "chores", "atomic")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHORES_FIELD_NUMBER: _ClassVar[int]
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    parent: str
    chores: _containers.RepeatedCompositeFieldContainer[Chore]
    atomic: bool
    def __init__(self, parent: _Optional[str] = ..., chores: _Optional[_Iterable[_Union[Chore, _Mapping]]] = ..., atomic: _Optional[bool] = ...) -> None: ...

class BatchCreateChoresResponse(_message.Message):
    __slots__ = ("results",)
    class Result(_message.Message):
        __slots__ = ("chore", "error")
        CHORE_FIELD_NUMBER: _ClassVar[int]
        ERROR_FIELD_NUMBER: _ClassVar[int]
        chore: Chore
        error: _status_pb2.Status
        def __init__(self, chore: _Optional[_Union[Chore, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchCreateChoresResponse.Result]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchCreateChoresResponse.Result, _Mapping]]] = ...) -> None: ...

class ListAgendaRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "until")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAgendaResponse(_message.Message):
    __slots__ = ("chores", "next_page_token")
    CHORES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chores: _containers.RepeatedCompositeFieldContainer[Chore]
    next_page_token: str
    def __init__(self, chores: _Optional[_Iterable[_Union[Chore, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveCompletionRequest(_message.Message):
    __slots__ = ("name", "note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    note: str
    def __init__(self, name: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class RejectCompletionRequest(_message.Message):
    __slots__ = ("name", "note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    note: str
    def __init__(self, name: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class CreateChoreRequest(_message.Message):
    __slots__ = ("parent", "chore", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    chore: Chore
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., chore: _Optional[_Union[Chore, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetChoreRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListChoresRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "assignee", "category", "label", "status", "due_before", "due_after", "query", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DUE_AFTER_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    assignee: str
    category: str
    label: str
    status: str
    due_before: _timestamp_pb2.Timestamp
    due_after: _timestamp_pb2.Timestamp
    query: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., assignee: _Optional[str] = ..., category: _Optional[str] = ..., label: _Optional[str] = ..., status: _Optional[str] = ..., due_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., query: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListChoresResponse(_message.Message):
    __slots__ = ("chores", "next_page_token")
    CHORES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chores: _containers.RepeatedCompositeFieldContainer[Chore]
    next_page_token: str
    def __init__(self, chores: _Optional[_Iterable[_Union[Chore, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateChoreRequest(_message.Message):
    __slots__ = ("chore", "update_mask")
    CHORE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    chore: Chore
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, chore: _Optional[_Union[Chore, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteChoreRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class CompleteChoreRequest(_message.Message):
    __slots__ = ("name", "complete_time", "note", "photo", "completed_by", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    complete_time: _timestamp_pb2.Timestamp
    note: str
    photo: str
    completed_by: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ..., photo: _Optional[str] = ..., completed_by: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CompleteChoreResponse(_message.Message):
    __slots__ = ("completion", "chore")
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    CHORE_FIELD_NUMBER: _ClassVar[int]
    completion: Completion
    chore: Chore
    def __init__(self, completion: _Optional[_Union[Completion, _Mapping]] = ..., chore: _Optional[_Union[Chore, _Mapping]] = ...) -> None: ...

class ListCompletionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "status")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    status: Completion.Status
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[Completion.Status, str]] = ...) -> None: ...

class ListCompletionsResponse(_message.Message):
    __slots__ = ("completions", "next_page_token")
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[Completion]
    next_page_token: str
    def __init__(self, completions: _Optional[_Iterable[_Union[Completion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SkipChoreRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SnoozeChoreRequest(_message.Message):
    __slots__ = ("name", "until")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    until: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteCompletionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Occurrence(_message.Message):
    __slots__ = ("name", "due_time", "assignee", "outcome", "completed_by", "recorder", "end_time", "completion")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[Occurrence.Outcome]
        DONE: _ClassVar[Occurrence.Outcome]
        SKIPPED: _ClassVar[Occurrence.Outcome]
        MISSED: _ClassVar[Occurrence.Outcome]
    OUTCOME_UNSPECIFIED: Occurrence.Outcome
    DONE: Occurrence.Outcome
    SKIPPED: Occurrence.Outcome
    MISSED: Occurrence.Outcome
    NAME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORDER_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    name: str
    due_time: _timestamp_pb2.Timestamp
    assignee: str
    outcome: Occurrence.Outcome
    completed_by: str
    recorder: str
    end_time: _timestamp_pb2.Timestamp
    completion: str
    def __init__(self, name: _Optional[str] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignee: _Optional[str] = ..., outcome: _Optional[_Union[Occurrence.Outcome, str]] = ..., completed_by: _Optional[str] = ..., recorder: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completion: _Optional[str] = ...) -> None: ...

class ListOccurrencesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOccurrencesResponse(_message.Message):
    __slots__ = ("occurrences", "next_page_token")
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    occurrences: _containers.RepeatedCompositeFieldContainer[Occurrence]
    next_page_token: str
    def __init__(self, occurrences: _Optional[_Iterable[_Union[Occurrence, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TickSubtaskRequest(_message.Message):
    __slots__ = ("name", "done")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    done: bool
    def __init__(self, name: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...

class ClaimChoreRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("name", "display_name", "chore_count", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CHORE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    chore_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., chore_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCategoryRequest(_message.Message):
    __slots__ = ("parent", "category")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    category: Category
    def __init__(self, parent: _Optional[str] = ..., category: _Optional[_Union[Category, _Mapping]] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("categories", "next_page_token")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    next_page_token: str
    def __init__(self, categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCategoryRequest(_message.Message):
    __slots__ = ("category", "update_mask")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    category: Category
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteCategoryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ExportUserDataRequest(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: str
    def __init__(self, user: _Optional[str] = ...) -> None: ...

class UserDataExport(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class PointEntry(_message.Message):
    __slots__ = ("name", "user", "delta", "reason", "completion_id", "reward_id", "balance", "create_time")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[PointEntry.Reason]
        COMPLETION: _ClassVar[PointEntry.Reason]
        UNDO: _ClassVar[PointEntry.Reason]
        PENALTY: _ClassVar[PointEntry.Reason]
        REDEMPTION: _ClassVar[PointEntry.Reason]
        ADJUSTMENT: _ClassVar[PointEntry.Reason]
    REASON_UNSPECIFIED: PointEntry.Reason
    COMPLETION: PointEntry.Reason
    UNDO: PointEntry.Reason
    PENALTY: PointEntry.Reason
    REDEMPTION: PointEntry.Reason
    ADJUSTMENT: PointEntry.Reason
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    user: str
    delta: int
    reason: PointEntry.Reason
    completion_id: str
    reward_id: str
    balance: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., user: _Optional[str] = ..., delta: _Optional[int] = ..., reason: _Optional[_Union[PointEntry.Reason, str]] = ..., completion_id: _Optional[str] = ..., reward_id: _Optional[str] = ..., balance: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPointEntriesRequest(_message.Message):
    __slots__ = ("parent", "user", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    user: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., user: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPointEntriesResponse(_message.Message):
    __slots__ = ("user", "balance", "entries", "next_page_token")
    USER_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user: str
    balance: int
    entries: _containers.RepeatedCompositeFieldContainer[PointEntry]
    next_page_token: str
    def __init__(self, user: _Optional[str] = ..., balance: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[PointEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Reward(_message.Message):
    __slots__ = ("name", "title", "description", "cost", "creator", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    cost: int
    creator: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., cost: _Optional[int] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRewardRequest(_message.Message):
    __slots__ = ("parent", "reward", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    reward: Reward
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., reward: _Optional[_Union[Reward, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListRewardsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRewardsResponse(_message.Message):
    __slots__ = ("rewards", "next_page_token")
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rewards: _containers.RepeatedCompositeFieldContainer[Reward]
    next_page_token: str
    def __init__(self, rewards: _Optional[_Iterable[_Union[Reward, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteRewardRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RedeemRewardRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("name", "user", "cost", "balance", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    user: str
    cost: int
    balance: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., user: _Optional[str] = ..., cost: _Optional[int] = ..., balance: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCalendarFeedRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class CalendarFeed(_message.Message):
    __slots__ = ("name", "token", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    token: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., token: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteCalendarFeedRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class GetCalendarFeedRequest(_message.Message):
    __slots__ = ("parent", "token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    token: str
    def __init__(self, parent: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class CalendarFeedContent(_message.Message):
    __slots__ = ("ics", "etag")
    ICS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ics: bytes
    etag: str
    def __init__(self, ics: _Optional[bytes] = ..., etag: _Optional[str] = ...) -> None: ...

class Photo(_message.Message):
    __slots__ = ("name", "uploader", "content_type", "size", "sha256", "width", "height", "thumbnail_state", "create_time")
    class ThumbnailState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        THUMBNAIL_STATE_UNSPECIFIED: _ClassVar[Photo.ThumbnailState]
        PENDING: _ClassVar[Photo.ThumbnailState]
        READY: _ClassVar[Photo.ThumbnailState]
        FAILED: _ClassVar[Photo.ThumbnailState]
    THUMBNAIL_STATE_UNSPECIFIED: Photo.ThumbnailState
    PENDING: Photo.ThumbnailState
    READY: Photo.ThumbnailState
    FAILED: Photo.ThumbnailState
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOADER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    uploader: str
    content_type: str
    size: int
    sha256: str
    width: int
    height: int
    thumbnail_state: Photo.ThumbnailState
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., uploader: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., thumbnail_state: _Optional[_Union[Photo.ThumbnailState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadPhotoRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    class Metadata(_message.Message):
        __slots__ = ("parent",)
        PARENT_FIELD_NUMBER: _ClassVar[int]
        parent: str
        def __init__(self, parent: _Optional[str] = ...) -> None: ...
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadPhotoRequest.Metadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadPhotoRequest.Metadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadPhotoResponse(_message.Message):
    __slots__ = ("ready", "photo")
    class Ready(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    READY_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    ready: UploadPhotoResponse.Ready
    photo: Photo
    def __init__(self, ready: _Optional[_Union[UploadPhotoResponse.Ready, _Mapping]] = ..., photo: _Optional[_Union[Photo, _Mapping]] = ...) -> None: ...

class ReadPhotoRequest(_message.Message):
    __slots__ = ("name", "thumbnail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    thumbnail: bool
    def __init__(self, name: _Optional[str] = ..., thumbnail: _Optional[bool] = ...) -> None: ...

class PhotoData(_message.Message):
    __slots__ = ("header", "chunk")
    class Header(_message.Message):
        __slots__ = ("photo", "content_type", "size", "etag")
        PHOTO_FIELD_NUMBER: _ClassVar[int]
        CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
        SIZE_FIELD_NUMBER: _ClassVar[int]
        ETAG_FIELD_NUMBER: _ClassVar[int]
        photo: Photo
        content_type: str
        size: int
        etag: str
        def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: PhotoData.Header
    chunk: bytes
    def __init__(self, header: _Optional[_Union[PhotoData.Header, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...
