import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServiceStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServiceStatus(_message.Message):
    __slots__ = ("service", "serving", "database", "redis", "outbox", "rss_bytes", "check_time")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    REDIS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    serving: bool
    database: DependencyCheck
    redis: DependencyCheck
    outbox: OutboxLag
    rss_bytes: int
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., serving: _Optional[bool] = ..., database: _Optional[_Union[DependencyCheck, _Mapping]] = ..., redis: _Optional[_Union[DependencyCheck, _Mapping]] = ..., outbox: _Optional[_Union[OutboxLag, _Mapping]] = ..., rss_bytes: _Optional[int] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DependencyCheck(_message.Message):
    __slots__ = ("state", "detail", "latency")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[DependencyCheck.State]
        OK: _ClassVar[DependencyCheck.State]
        DOWN: _ClassVar[DependencyCheck.State]
    STATE_UNSPECIFIED: DependencyCheck.State
    OK: DependencyCheck.State
    DOWN: DependencyCheck.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    state: DependencyCheck.State
    detail: str
    latency: _duration_pb2.Duration
    def __init__(self, state: _Optional[_Union[DependencyCheck.State, str]] = ..., detail: _Optional[str] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class OutboxLag(_message.Message):
    __slots__ = ("known", "backlog", "oldest_age")
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AGE_FIELD_NUMBER: _ClassVar[int]
    known: bool
    backlog: int
    oldest_age: _duration_pb2.Duration
    def __init__(self, known: _Optional[bool] = ..., backlog: _Optional[int] = ..., oldest_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
