"""gRPC AnalyticsService: proto ↔ domain only (rules live in service.py, math in stats.py)."""

from __future__ import annotations

import grpc
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from kit.names import parse_ids
from kit.timestamps import from_proto
from services.analytics.converters import stats_to_proto
from services.analytics.service import AnalyticsService

STATS_PATTERN = "households/{household}/stats"


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, service: AnalyticsService) -> None:
        self._service = service

    async def GetHouseholdStats(
        self,
        request: analytics_pb2.GetHouseholdStatsRequest,
        context: grpc.aio.ServicerContext[analytics_pb2.GetHouseholdStatsRequest, analytics_pb2.HouseholdStats],
    ) -> analytics_pb2.HouseholdStats:
        report = await self._service.household_stats(
            parse_ids(request.name, STATS_PATTERN)["household"],
            start_time=from_proto(request, "start_time"),
            end_time=from_proto(request, "end_time"),
        )
        return stats_to_proto(report)
