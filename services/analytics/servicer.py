"""gRPC AnalyticsService and PrivacyService: proto ↔ domain only (rules live in service.py and privacy.py, math
in stats.py)."""

from __future__ import annotations

import grpc
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from kit.names import parse_ids
from kit.timestamps import from_proto
from services.analytics.converters import stats_to_proto
from services.analytics.privacy import UserData
from services.analytics.service import AnalyticsService

STATS_PATTERN = "households/{household}/stats"
USER_PATTERN = "users/{user}"


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


class PrivacyServicer(analytics_pb2_grpc.PrivacyServiceServicer):
    """Internal (service tokens only): what analytics holds about a person, for the user service's export job."""

    def __init__(self, user_data: UserData) -> None:
        self._user_data = user_data

    async def ExportUserData(
        self,
        request: analytics_pb2.ExportUserDataRequest,
        context: grpc.aio.ServicerContext[analytics_pb2.ExportUserDataRequest, analytics_pb2.UserDataExport],
    ) -> analytics_pb2.UserDataExport:
        user_id = parse_ids(request.user, USER_PATTERN, field="user")["user"]
        return analytics_pb2.UserDataExport(json=await self._user_data.export(user_id))
