"""kit.timestamps: the accepted range of client instants, and Timestamps no datetime can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hearth.task.v1 import task_pb2

from kit.errors import InvalidArgument
from kit.timestamps import EARLIEST, LATEST, RANGE_MESSAGE, from_proto, in_range


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (EARLIEST, True),
        (LATEST, True),
        (EARLIEST - timedelta(microseconds=1), False),
        (LATEST + timedelta(microseconds=1), False),
        (datetime(2026, 11, 23, 18, 0), True),  # naive counts as UTC
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), False),  # cannot even be shifted to UTC
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))), False),
    ],
)
def test_in_range(moment: datetime, inside: bool) -> None:
    assert in_range(moment) is inside


def test_from_proto_reads_set_fields_and_refuses_unholdable_ones_by_field() -> None:
    assert from_proto(task_pb2.CompleteChoreRequest(), "complete_time") is None
    request = task_pb2.CompleteChoreRequest()
    request.complete_time.FromDatetime(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    assert from_proto(request, "complete_time") == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)

    unholdable = task_pb2.CompleteChoreRequest(complete_time=Timestamp(seconds=2**50))
    with pytest.raises(InvalidArgument) as raised:
        from_proto(unholdable, "complete_time")
    assert [(v.field, v.message) for v in raised.value.violations] == [("complete_time", RANGE_MESSAGE)]
