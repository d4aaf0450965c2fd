"""Wiring of the task service: runtime, membership client, servicers, photo store, outbox relay and the event
consumer."""

from __future__ import annotations

from hearth.task.v1 import task_pb2_grpc

from kit.events import combine
from kit.grpc_server import Server, passing_bytes_through
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.task.categories import CategoryService
from services.task.config import Settings
from services.task.consumers import handlers
from services.task.feeds import CalendarFeeds
from services.task.feeds import handlers as feed_handlers
from services.task.lists import ChoreLists
from services.task.photo_storage import photo_storage
from services.task.photos import Photos
from services.task.photos import handlers as photo_handlers
from services.task.points import PointsService
from services.task.privacy import UserData
from services.task.service import ChoreService
from services.task.servicer import (
    CalendarFeedServicer,
    CategoryServicer,
    ChoreServicer,
    PhotoServicer,
    PointsServicer,
    PrivacyServicer,
)
from services.user.client import membership_client


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    assert isinstance(settings, Settings)  # kit.cli and the tests pass this service's own settings
    runtime = create_runtime(settings, telemetry=telemetry)
    async with runtime.closed_on_error():
        membership = membership_client(runtime, ttl=settings.membership_ttl_seconds)
        ttl = settings.chore_list_ttl_seconds
        lists = ChoreLists(runtime.cache("chore-lists", ttl=ttl) if ttl else None)
        servicer = ChoreServicer(ChoreService(runtime.sessions, membership, lists=lists))
        # ListChores answers with the page as cached: ListChoresResponse bytes, sent as they are.
        add = passing_bytes_through(task_pb2_grpc.add_ChoreServiceServicer_to_server, ["ListChores"])
        privacy = PrivacyServicer(UserData(runtime.sessions))
        points = PointsServicer(PointsService(runtime.sessions, membership))
        feeds = CalendarFeedServicer(CalendarFeeds(runtime.sessions, membership))
        categories = CategoryServicer(CategoryService(runtime.sessions, membership, lists=lists))
        photos = PhotoServicer(
            Photos(runtime.sessions, membership, photo_storage(settings), max_pixels=settings.photo_max_pixels)
        )
        server = runtime.build_server(
            [
                (add, servicer, "hearth.task.v1.ChoreService"),
                (task_pb2_grpc.add_PrivacyServiceServicer_to_server, privacy, "hearth.task.v1.PrivacyService"),
                (task_pb2_grpc.add_PointsServiceServicer_to_server, points, "hearth.task.v1.PointsService"),
                (task_pb2_grpc.add_CalendarFeedServiceServicer_to_server, feeds, "hearth.task.v1.CalendarFeedService"),
                (task_pb2_grpc.add_CategoryServiceServicer_to_server, categories, "hearth.task.v1.CategoryService"),
                (task_pb2_grpc.add_PhotoServiceServicer_to_server, photos, "hearth.task.v1.PhotoService"),
            ],
            # The feed token is the credential: calendar clients send no bearer token (services.task.feeds).
            public_methods=["/hearth.task.v1.CalendarFeedService/GetCalendarFeed"],
        )
        runtime.publish_outbox()
        # From user: cached membership answers dropped, away periods, and what a deleted user or household leaves
        # (a deleted household's photos too).
        runtime.consume(["user"], combine(handlers(membership, lists), feed_handlers(), photo_handlers()))
    return runtime.attach(server)
