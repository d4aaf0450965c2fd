"""/households/{hid}/categories: the household's chore categories — list, create, rename (on its chores too), delete
(its chores keep no category). Chores name their category by name (services.task.categories)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from google.protobuf.field_mask_pb2 import FieldMask
from hearth.task.v1 import task_pb2

from gateway import converters, responses, schemas
from gateway import openapi as doc
from gateway.auth import CurrentCaller
from gateway.routes import ClientsDep, PageSize, PageToken
from gateway.schemas import PlainText
from gateway.serialize import JSONResponse

router = APIRouter(tags=["categories"])

HouseholdId = Annotated[str, Path(max_length=64), PlainText]
CategoryId = Annotated[str, Path(max_length=64), PlainText]
CATEGORY = doc.body(responses.Category, responses.CATEGORY, "The category")


@router.get(
    "/households/{hid}/categories",
    summary="The household's chore categories, by name",
    responses=doc.documented(
        {200: doc.body(responses.CategoryPage, responses.CATEGORY_PAGE, "A page of categories")}, 401, 404, 422
    ),
)
async def list_categories(
    hid: HouseholdId,
    caller: CurrentCaller,
    clients: ClientsDep,
    page_size: PageSize = 50,
    page_token: PageToken = "",
) -> JSONResponse:
    reply = await clients.categories.ListCategories(
        task_pb2.ListCategoriesRequest(parent=f"households/{hid}", page_size=page_size, page_token=page_token)
    )
    return JSONResponse(
        {"items": [converters.category(c) for c in reply.categories], "next_page_token": reply.next_page_token}
    )


@router.post(
    "/households/{hid}/categories",
    status_code=201,
    summary="Create a category (not for children); a name the household has already, in any case, is 409",
    responses=doc.documented({201: CATEGORY}, 401, 403, 404, 409, 413, 422),
)
async def create_category(
    hid: HouseholdId, body: schemas.CategoryBody, caller: CurrentCaller, clients: ClientsDep
) -> JSONResponse:
    created = await clients.categories.CreateCategory(
        task_pb2.CreateCategoryRequest(parent=f"households/{hid}", category=task_pb2.Category(display_name=body.name))
    )
    return JSONResponse(converters.category(created), status_code=201)


@router.patch(
    "/households/{hid}/categories/{category_id}",
    summary="Rename a category, on its chores too (not for children; merge patch)",
    responses=doc.documented({200: CATEGORY}, 401, 403, 404, 409, 413, 422),
)
async def update_category(
    hid: HouseholdId,
    category_id: CategoryId,
    body: schemas.CategoryPatch,
    caller: CurrentCaller,
    clients: ClientsDep,
) -> JSONResponse:
    updated = await clients.categories.UpdateCategory(
        task_pb2.UpdateCategoryRequest(
            category=task_pb2.Category(name=f"households/{hid}/categories/{category_id}", display_name=body.name or ""),
            update_mask=FieldMask(paths=["display_name"] if "name" in body.model_fields_set else []),
        )
    )
    return JSONResponse(converters.category(updated))


@router.delete(
    "/households/{hid}/categories/{category_id}",
    status_code=204,
    summary="Delete a category; its chores keep no category (not for children)",
    responses=doc.documented({204: doc.empty("Deleted")}, 401, 403, 404, 422),
)
async def delete_category(
    hid: HouseholdId, category_id: CategoryId, caller: CurrentCaller, clients: ClientsDep
) -> Response:
    await clients.categories.DeleteCategory(
        task_pb2.DeleteCategoryRequest(name=f"households/{hid}/categories/{category_id}")
    )
    return Response(status_code=204)
