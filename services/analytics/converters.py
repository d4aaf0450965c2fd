"""Stats → hearth.analytics.v1 messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hearth.analytics.v1 import analytics_pb2

from kit.errors import invalid
from kit.names import user_name
from services.analytics.service import TIME_RANGE_MESSAGE, StatsReport


def time_of(message: Any, field: str) -> datetime | None:
    """The timestamp `field` of a request, None when unset; one no datetime can hold (seconds=2**50) is
    INVALID_ARGUMENT naming the field (the service checks the range of those that convert)."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(field, TIME_RANGE_MESSAGE) from exc


def stats_to_proto(report: StatsReport) -> analytics_pb2.HouseholdStats:
    totals = report.stats.household
    message = analytics_pb2.HouseholdStats(
        name=report.name,
        members=[
            analytics_pb2.MemberStats(
                user=user_name(m.user_id),
                completions=m.completions,
                points=m.points,
                on_time_rate=m.on_time_rate,
                current_streak=m.current_streak,
                best_streak=m.best_streak,
                share=m.share,
            )
            for m in report.stats.members
        ],
        household=analytics_pb2.HouseholdTotals(
            completions=totals.completions,
            completion_rate=totals.completion_rate,
            overdue=totals.overdue,
            fairness=totals.fairness,
        ),
    )
    message.start_time.FromDatetime(report.start)
    message.end_time.FromDatetime(report.end)
    return message
