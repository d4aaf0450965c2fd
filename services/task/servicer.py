"""gRPC ChoreService, PointsService, CalendarFeedService, PhotoService and PrivacyService: proto ↔ domain only
(rules live in service.py, points.py, feeds.py, photos.py and privacy.py). Resource names become ids here
(converters), so the use cases never parse a name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit import timestamps
from kit.errors import HearthError, InvalidArgument, NotFound, invalid
from kit.field_mask import present_fields
from kit.interceptors import to_rpc_status
from kit.names import parse_ids
from kit.repository import Page
from kit.validation import caller_id
from services.task import converters
from services.task.categories import CATEGORY_MASK, CategoryService
from services.task.feeds import NOT_FOUND_MESSAGE, CalendarFeeds
from services.task.photos import MAX_CHUNK_BYTES, Photos
from services.task.points import PointsService, RewardInput
from services.task.privacy import UserData
from services.task.repository import ChoreRow
from services.task.service import ChoreService


class ChoreServicer(task_pb2_grpc.ChoreServiceServicer):
    def __init__(self, service: ChoreService) -> None:
        self._service = service

    async def CreateChore(
        self,
        request: task_pb2.CreateChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.CreateChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        data = converters.chore_input(request.chore)
        chore = await self._service.create_chore(
            converters.household_id(request.parent), data, request_id=request.request_id
        )
        return converters.chore_to_proto(chore)

    async def GetChore(
        self,
        request: task_pb2.GetChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.GetChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        return converters.chore_row_to_proto(await self._service.get_chore(*converters.chore_ids(request.name)))

    async def ListChores(  # type: ignore[override]  # bytes: see below
        self,
        request: task_pb2.ListChoresRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListChoresRequest, task_pb2.ListChoresResponse],
    ) -> bytes:
        """The page as the service keeps it, ListChoresResponse bytes: server.py registers ListChores with
        `kit.grpc_server.passing_bytes_through`, so they reach the wire without being parsed and serialized again."""
        query = converters.list_query(request)
        return await self._service.list_chores(converters.household_id(request.parent), query, _render_chores)

    async def UpdateChore(
        self,
        request: task_pb2.UpdateChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.UpdateChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        update = converters.chore_update(request)
        chore = await self._service.update_chore(*converters.chore_ids(request.chore.name), update)
        return converters.chore_to_proto(chore)

    async def DeleteChore(
        self,
        request: task_pb2.DeleteChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.DeleteChoreRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._service.delete_chore(*converters.chore_ids(request.name), etag=request.etag)
        return empty_pb2.Empty()

    async def CompleteChore(
        self,
        request: task_pb2.CompleteChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.CompleteChoreRequest, task_pb2.CompleteChoreResponse],
    ) -> task_pb2.CompleteChoreResponse:
        data = converters.complete_input(request)
        result = await self._service.complete_chore(*converters.chore_ids(request.name), data)
        return task_pb2.CompleteChoreResponse(
            completion=converters.completion_to_proto(result.completion),
            chore=converters.chore_to_proto(result.chore),
        )

    async def ListCompletions(
        self,
        request: task_pb2.ListCompletionsRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListCompletionsRequest, task_pb2.ListCompletionsResponse],
    ) -> task_pb2.ListCompletionsResponse:
        household_id, chore_id = converters.completions_parent(request.parent)
        if request.status not in (task_pb2.Completion.STATUS_UNSPECIFIED, *converters.REVIEW_STATUS_NAMES):
            raise invalid("status", "unknown status")
        page = await self._service.list_completions(
            household_id,
            chore_id,
            page_size=request.page_size,
            page_token=request.page_token,
            status=converters.REVIEW_STATUS_NAMES.get(request.status),
        )
        return task_pb2.ListCompletionsResponse(
            completions=[converters.completion_to_proto(c) for c in page.items],
            next_page_token=page.next_page_token,
        )

    async def SkipChore(
        self,
        request: task_pb2.SkipChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.SkipChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        chore = await self._service.skip_chore(*converters.chore_ids(request.name), request_id=request.request_id)
        return converters.chore_to_proto(chore)

    async def SnoozeChore(
        self,
        request: task_pb2.SnoozeChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.SnoozeChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        until = timestamps.from_proto(request, "until")
        chore = await self._service.snooze_chore(*converters.chore_ids(request.name), until)
        return converters.chore_to_proto(chore)

    async def DeleteCompletion(
        self,
        request: task_pb2.DeleteCompletionRequest,
        context: grpc.aio.ServicerContext[task_pb2.DeleteCompletionRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        chore = await self._service.undo_completion(*converters.completion_ids(request.name))
        return converters.chore_to_proto(chore)

    async def BatchCreateChores(
        self,
        request: task_pb2.BatchCreateChoresRequest,
        context: grpc.aio.ServicerContext[task_pb2.BatchCreateChoresRequest, task_pb2.BatchCreateChoresResponse],
    ) -> task_pb2.BatchCreateChoresResponse:
        household_id = converters.household_id(request.parent)
        items = [converters.chore_input(chore) for chore in request.chores]
        results = await self._service.batch_create_chores(household_id, items, atomic=request.atomic)
        return task_pb2.BatchCreateChoresResponse(
            results=[
                task_pb2.BatchCreateChoresResponse.Result(error=to_rpc_status(result))
                if isinstance(result, HearthError)
                else task_pb2.BatchCreateChoresResponse.Result(chore=converters.chore_to_proto(result))
                for result in results
            ]
        )

    async def ListAgenda(
        self,
        request: task_pb2.ListAgendaRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListAgendaRequest, task_pb2.ListAgendaResponse],
    ) -> task_pb2.ListAgendaResponse:
        until = timestamps.from_proto(request, "until")
        page = await self._service.list_agenda(until=until, page_size=request.page_size, page_token=request.page_token)
        return task_pb2.ListAgendaResponse(
            chores=[converters.chore_row_to_proto(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def ApproveCompletion(
        self,
        request: task_pb2.ApproveCompletionRequest,
        context: grpc.aio.ServicerContext[task_pb2.ApproveCompletionRequest, task_pb2.Completion],
    ) -> task_pb2.Completion:
        completion = await self._service.review_completion(
            *converters.completion_ids(request.name), approve=True, note=request.note
        )
        return converters.completion_to_proto(completion)

    async def RejectCompletion(
        self,
        request: task_pb2.RejectCompletionRequest,
        context: grpc.aio.ServicerContext[task_pb2.RejectCompletionRequest, task_pb2.Completion],
    ) -> task_pb2.Completion:
        completion = await self._service.review_completion(
            *converters.completion_ids(request.name), approve=False, note=request.note
        )
        return converters.completion_to_proto(completion)

    async def ListOccurrences(
        self,
        request: task_pb2.ListOccurrencesRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListOccurrencesRequest, task_pb2.ListOccurrencesResponse],
    ) -> task_pb2.ListOccurrencesResponse:
        ids = parse_ids(request.parent, converters.CHORE, field="parent")
        household_id, chore_id = ids["household"], ids["chore"]
        page = await self._service.list_occurrences(
            household_id, chore_id, page_size=request.page_size, page_token=request.page_token
        )
        return task_pb2.ListOccurrencesResponse(
            occurrences=[converters.occurrence_to_proto(o) for o in page.items],
            next_page_token=page.next_page_token,
        )

    async def ClaimChore(
        self,
        request: task_pb2.ClaimChoreRequest,
        context: grpc.aio.ServicerContext[task_pb2.ClaimChoreRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        return converters.chore_to_proto(await self._service.claim_chore(*converters.chore_ids(request.name)))

    async def TickSubtask(
        self,
        request: task_pb2.TickSubtaskRequest,
        context: grpc.aio.ServicerContext[task_pb2.TickSubtaskRequest, task_pb2.Chore],
    ) -> task_pb2.Chore:
        chore = await self._service.tick_subtask(*converters.subtask_ids(request.name), done=request.done)
        return converters.chore_to_proto(chore)


class CategoryServicer(task_pb2_grpc.CategoryServiceServicer):
    def __init__(self, service: CategoryService) -> None:
        self._service = service

    async def CreateCategory(
        self,
        request: task_pb2.CreateCategoryRequest,
        context: grpc.aio.ServicerContext[task_pb2.CreateCategoryRequest, task_pb2.Category],
    ) -> task_pb2.Category:
        listed = await self._service.create(converters.household_id(request.parent), request.category.display_name)
        return converters.category_to_proto(listed)

    async def ListCategories(
        self,
        request: task_pb2.ListCategoriesRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListCategoriesRequest, task_pb2.ListCategoriesResponse],
    ) -> task_pb2.ListCategoriesResponse:
        page = await self._service.list(
            converters.household_id(request.parent), page_size=request.page_size, page_token=request.page_token
        )
        return task_pb2.ListCategoriesResponse(
            categories=[converters.category_to_proto(c) for c in page.items], next_page_token=page.next_page_token
        )

    async def UpdateCategory(
        self,
        request: task_pb2.UpdateCategoryRequest,
        context: grpc.aio.ServicerContext[task_pb2.UpdateCategoryRequest, task_pb2.Category],
    ) -> task_pb2.Category:
        ids = converters.category_ids(request.category.name)
        paths = CATEGORY_MASK.paths(request.update_mask.paths, present=present_fields(request.category))
        if "display_name" not in paths:  # nothing to change: the category as it is
            listed = await self._service.rename(*ids, None)
        else:
            listed = await self._service.rename(*ids, request.category.display_name)
        return converters.category_to_proto(listed)

    async def DeleteCategory(
        self,
        request: task_pb2.DeleteCategoryRequest,
        context: grpc.aio.ServicerContext[task_pb2.DeleteCategoryRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._service.delete(*converters.category_ids(request.name))
        return empty_pb2.Empty()


class PointsServicer(task_pb2_grpc.PointsServiceServicer):
    def __init__(self, service: PointsService) -> None:
        self._service = service

    async def ListPointEntries(
        self,
        request: task_pb2.ListPointEntriesRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListPointEntriesRequest, task_pb2.ListPointEntriesResponse],
    ) -> task_pb2.ListPointEntriesResponse:
        ledger = await self._service.ledger(
            converters.household_id(request.parent),
            converters.optional_user(request.user),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return task_pb2.ListPointEntriesResponse(
            user=f"users/{ledger.user_id}",
            balance=ledger.balance,
            entries=[converters.point_entry_to_proto(e) for e in ledger.entries.items],
            next_page_token=ledger.entries.next_page_token,
        )

    async def CreateReward(
        self,
        request: task_pb2.CreateRewardRequest,
        context: grpc.aio.ServicerContext[task_pb2.CreateRewardRequest, task_pb2.Reward],
    ) -> task_pb2.Reward:
        data = RewardInput(title=request.reward.title, description=request.reward.description, cost=request.reward.cost)
        reward = await self._service.create_reward(
            converters.household_id(request.parent), data, request_id=request.request_id
        )
        return converters.reward_to_proto(reward)

    async def ListRewards(
        self,
        request: task_pb2.ListRewardsRequest,
        context: grpc.aio.ServicerContext[task_pb2.ListRewardsRequest, task_pb2.ListRewardsResponse],
    ) -> task_pb2.ListRewardsResponse:
        page = await self._service.list_rewards(
            converters.household_id(request.parent), page_size=request.page_size, page_token=request.page_token
        )
        return task_pb2.ListRewardsResponse(
            rewards=[converters.reward_to_proto(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def DeleteReward(
        self,
        request: task_pb2.DeleteRewardRequest,
        context: grpc.aio.ServicerContext[task_pb2.DeleteRewardRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._service.delete_reward(*converters.reward_ids(request.name))
        return empty_pb2.Empty()

    async def RedeemReward(
        self,
        request: task_pb2.RedeemRewardRequest,
        context: grpc.aio.ServicerContext[task_pb2.RedeemRewardRequest, task_pb2.Redemption],
    ) -> task_pb2.Redemption:
        redeemed = await self._service.redeem(*converters.reward_ids(request.name), request_id=request.request_id)
        return converters.redemption_to_proto(redeemed.entry, redeemed.cost)


class CalendarFeedServicer(task_pb2_grpc.CalendarFeedServiceServicer):
    """A member's calendar feed token, and the feed it opens (GetCalendarFeed is public: the token is the credential;
    services.task.feeds)."""

    def __init__(self, feeds: CalendarFeeds) -> None:
        self._feeds = feeds

    async def CreateCalendarFeed(
        self,
        request: task_pb2.CreateCalendarFeedRequest,
        context: grpc.aio.ServicerContext[task_pb2.CreateCalendarFeedRequest, task_pb2.CalendarFeed],
    ) -> task_pb2.CalendarFeed:
        household_id = converters.household_id(request.parent)
        created = await self._feeds.create(household_id)
        feed = task_pb2.CalendarFeed(name=f"households/{household_id}/calendarFeeds/{caller_id()}", token=created.token)
        feed.create_time.FromDatetime(created.create_time)
        return feed

    async def DeleteCalendarFeed(
        self,
        request: task_pb2.DeleteCalendarFeedRequest,
        context: grpc.aio.ServicerContext[task_pb2.DeleteCalendarFeedRequest, empty_pb2.Empty],
    ) -> empty_pb2.Empty:
        await self._feeds.revoke(converters.household_id(request.parent))
        return empty_pb2.Empty()

    async def GetCalendarFeed(
        self,
        request: task_pb2.GetCalendarFeedRequest,
        context: grpc.aio.ServicerContext[task_pb2.GetCalendarFeedRequest, task_pb2.CalendarFeedContent],
    ) -> task_pb2.CalendarFeedContent:
        try:
            household_id = converters.household_id(request.parent)
        except InvalidArgument:
            # A malformed household in the URL is as unknown as a wrong token: one answer for every bad request.
            raise NotFound(NOT_FOUND_MESSAGE) from None
        feed = await self._feeds.render(household_id, request.token)
        return task_pb2.CalendarFeedContent(ics=feed.body, etag=feed.etag)


class PhotoServicer(task_pb2_grpc.PhotoServiceServicer):
    """Uploads (metadata, `ready`, then chunks and the photo) and reads (server-streaming: header, then chunks) of a
    household's photos (services.task.photos)."""

    def __init__(self, photos: Photos) -> None:
        self._photos = photos

    async def UploadPhoto(
        self,
        request_iterator: AsyncIterator[task_pb2.UploadPhotoRequest],
        context: grpc.aio.ServicerContext[task_pb2.UploadPhotoRequest, task_pb2.UploadPhotoResponse],
    ) -> AsyncIterator[task_pb2.UploadPhotoResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise invalid("metadata", "the first message must hold the metadata")
        household_id = converters.household_id(first.metadata.parent)
        await self._photos.authorize_upload(household_id)
        # The client sends the bytes only now: a refusal never races its writes (see task.proto).
        yield task_pb2.UploadPhotoResponse(ready=task_pb2.UploadPhotoResponse.Ready())

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise invalid("metadata", "only the first message may hold the metadata")
                yield message.chunk

        photo = await self._photos.upload(household_id, chunks())
        yield task_pb2.UploadPhotoResponse(photo=converters.photo_to_proto(photo))

    async def ReadPhoto(
        self,
        request: task_pb2.ReadPhotoRequest,
        context: grpc.aio.ServicerContext[task_pb2.ReadPhotoRequest, task_pb2.PhotoData],
    ) -> AsyncIterator[task_pb2.PhotoData]:
        ids = parse_ids(request.name, converters.PHOTO)
        content = await self._photos.read(ids["household"], ids["photo"], thumbnail=request.thumbnail)
        yield task_pb2.PhotoData(
            header=task_pb2.PhotoData.Header(
                photo=converters.photo_to_proto(content.photo),
                content_type=content.content_type,
                size=content.size,
                etag=content.etag,
            )
        )
        # Only now the store: a caller whose copy the header's ETag matches (a 304) has cancelled the call by then.
        view = memoryview(await self._photos.data_of(content))
        for start in range(0, len(view), MAX_CHUNK_BYTES):
            yield task_pb2.PhotoData(chunk=bytes(view[start : start + MAX_CHUNK_BYTES]))


class PrivacyServicer(task_pb2_grpc.PrivacyServiceServicer):
    """Internal (service tokens only): what task holds about a person, for the user service's export job."""

    def __init__(self, user_data: UserData) -> None:
        self._user_data = user_data

    async def ExportUserData(
        self,
        request: task_pb2.ExportUserDataRequest,
        context: grpc.aio.ServicerContext[task_pb2.ExportUserDataRequest, task_pb2.UserDataExport],
    ) -> task_pb2.UserDataExport:
        user_id = parse_ids(request.user, converters.USER, field="user")["user"]
        return task_pb2.UserDataExport(json=await self._user_data.export(user_id))


def _render_chores(page: Page[ChoreRow]) -> bytes:
    """A page of chore rows as ListChoresResponse bytes, the form the service caches."""
    return task_pb2.ListChoresResponse(
        chores=[converters.chore_row_to_proto(row) for row in page.items], next_page_token=page.next_page_token
    ).SerializeToString()
