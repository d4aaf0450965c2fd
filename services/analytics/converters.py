"""Stats → hearth.analytics.v1 messages."""

from __future__ import annotations

from hearth.analytics.v1 import analytics_pb2

from kit.names import user_name
from services.analytics.service import StatsReport


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
                missed=m.missed,
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
