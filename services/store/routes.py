"""HTTP handlers of the store service: parse the contract, call the repository, answer.

Stored documents are passed through as JSON text; only request bodies are parsed.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from services.store.repository import ChatKitRepository, JsonPage
from services.store.state import StoreState
from shared.api import ApiRoute, json_response, read_json, read_query, user_id_header
from shared.contracts.common import MAX_ID_LENGTH, USER_ID_HEADER
from shared.contracts.store import (
    AttachmentBody,
    ItemBody,
    ItemPage,
    Owned,
    OwnershipQuery,
    PageQuery,
    ThreadBody,
    ThreadPage,
)
from shared.errors import ApiError

NO_CONTENT = 204


def _repo(request: Request[StoreState]) -> ChatKitRepository:
    return request.state["repository"]


def _path_id(request: Request[StoreState], name: str) -> str:
    value: str = request.path_params[name]
    if len(value) > MAX_ID_LENGTH:
        raise ApiError(422, f"{name} is longer than {MAX_ID_LENGTH} characters.")
    if "\x00" in value:
        raise ApiError(422, f"{name} may not contain NUL characters.")
    return value


def _json(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _page_json(page: JsonPage) -> Response:
    return _json(
        f'{{"data":[{",".join(page.data)}],"has_more":{json.dumps(page.has_more)},'
        f'"after":{json.dumps(page.after)}}}'
    )


# -- ownership ---------------------------------------------------------------


async def owned(request: Request[StoreState]) -> Response:
    query: OwnershipQuery = await read_json(request, OwnershipQuery)
    return json_response(await _repo(request).owned(user_id_header(request), query))


# -- threads -----------------------------------------------------------------


async def list_threads(request: Request[StoreState]) -> Response:
    query = read_query(request, PageQuery)
    page = await _repo(request).list_threads(
        user_id_header(request), limit=query.limit, after=query.after, order=query.order
    )
    return _page_json(page)


async def get_thread(request: Request[StoreState]) -> Response:
    data = await _repo(request).load_thread(user_id_header(request), _path_id(request, "thread_id"))
    return _json(f'{{"thread":{data}}}')


async def put_thread(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    body: ThreadBody = await read_json(request, ThreadBody)
    if body.thread.id != thread_id:
        raise ApiError(422, "thread.id does not match the thread id in the path.")
    await _repo(request).save_thread(user_id, body.thread)
    return Response(status_code=NO_CONTENT)


async def delete_thread(request: Request[StoreState]) -> Response:
    await _repo(request).delete_thread(user_id_header(request), _path_id(request, "thread_id"))
    return Response(status_code=NO_CONTENT)


# -- items -------------------------------------------------------------------


async def list_items(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    query = read_query(request, PageQuery)
    page = await _repo(request).list_items(
        user_id, thread_id, limit=query.limit, after=query.after, order=query.order
    )
    return _page_json(page)


async def _item_body(request: Request[StoreState], thread_id: str) -> ItemBody:
    body: ItemBody = await read_json(request, ItemBody)
    if body.item.thread_id != thread_id:
        raise ApiError(422, "item.thread_id does not match the thread id in the path.")
    if len(body.item.id) > MAX_ID_LENGTH:
        raise ApiError(422, f"item.id is longer than {MAX_ID_LENGTH} characters.")
    return body


async def add_item(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    body = await _item_body(request, thread_id)
    await _repo(request).add_item(user_id, thread_id, body.item)
    return Response(status_code=201)


async def put_item(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    item_id = _path_id(request, "item_id")
    body = await _item_body(request, thread_id)
    if body.item.id != item_id:
        raise ApiError(422, "item.id does not match the item id in the path.")
    await _repo(request).save_item(user_id, thread_id, body.item)
    return Response(status_code=NO_CONTENT)


async def get_item(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    data = await _repo(request).load_item(user_id, thread_id, _path_id(request, "item_id"))
    return _json(f'{{"item":{data}}}')


async def delete_item(request: Request[StoreState]) -> Response:
    user_id, thread_id = user_id_header(request), _path_id(request, "thread_id")
    await _repo(request).delete_item(user_id, thread_id, _path_id(request, "item_id"))
    return Response(status_code=NO_CONTENT)


# -- attachments ---------------------------------------------------------------


async def put_attachment(request: Request[StoreState]) -> Response:
    user_id, attachment_id = user_id_header(request), _path_id(request, "attachment_id")
    body: AttachmentBody = await read_json(request, AttachmentBody)
    if body.attachment.id != attachment_id:
        raise ApiError(422, "attachment.id does not match the attachment id in the path.")
    await _repo(request).save_attachment(user_id, body.attachment)
    return Response(status_code=NO_CONTENT)


async def get_attachment(request: Request[StoreState]) -> Response:
    data = await _repo(request).load_attachment(
        user_id_header(request), _path_id(request, "attachment_id")
    )
    return _json(f'{{"attachment":{data}}}')


async def delete_attachment(request: Request[StoreState]) -> Response:
    await _repo(request).delete_attachment(
        user_id_header(request), _path_id(request, "attachment_id")
    )
    return Response(status_code=NO_CONTENT)


async def put_attachment_content(request: Request[StoreState]) -> Response:
    user_id, attachment_id = user_id_header(request), _path_id(request, "attachment_id")
    content_type = request.headers.get("content-type", "application/octet-stream")
    data = await request.body()
    await _repo(request).save_attachment_content(user_id, attachment_id, content_type, data)
    return Response(status_code=NO_CONTENT)


async def get_attachment_content(request: Request[StoreState]) -> Response:
    content_type, data = await _repo(request).load_attachment_content(
        user_id_header(request), _path_id(request, "attachment_id")
    )
    # The bytes are the user's own upload: never let a browser sniff them into HTML.
    return Response(data, media_type=content_type, headers={"x-content-type-options": "nosniff"})


_USER = (USER_ID_HEADER,)
THREAD = "/v1/threads/{thread_id}"
ITEM = "/v1/threads/{thread_id}/items/{item_id}"
ATTACHMENT = "/v1/attachments/{attachment_id}"

routes = [
    ApiRoute(
        "/v1/owned",
        owned,
        method="POST",
        summary="Which of the named threads, attachments and items of a thread the user has",
        body=OwnershipQuery,
        response=Owned,
        errors=(400,),
        headers=_USER,
    ),
    ApiRoute(
        "/v1/threads",
        list_threads,
        method="GET",
        summary="List the user's threads",
        query=PageQuery,
        response=ThreadPage,
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        THREAD,
        get_thread,
        method="GET",
        summary="Load a thread's metadata",
        response=ThreadBody,
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        THREAD,
        put_thread,
        method="PUT",
        summary="Create or update a thread",
        body=ThreadBody,
        status=NO_CONTENT,
        errors=(400, 403, 413),
        headers=_USER,
    ),
    ApiRoute(
        THREAD,
        delete_thread,
        method="DELETE",
        summary="Delete a thread and its items",
        status=NO_CONTENT,
        errors=(400,),
        headers=_USER,
    ),
    ApiRoute(
        f"{THREAD}/items",
        list_items,
        method="GET",
        summary="Page through a thread's items",
        query=PageQuery,
        response=ItemPage,
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        f"{THREAD}/items",
        add_item,
        method="POST",
        summary="Append an item to a thread",
        body=ItemBody,
        status=201,
        errors=(400, 403, 404, 409, 413),
        headers=_USER,
    ),
    ApiRoute(
        ITEM,
        get_item,
        method="GET",
        summary="Load one item",
        response=ItemBody,
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        ITEM,
        put_item,
        method="PUT",
        summary="Insert or replace an item",
        body=ItemBody,
        status=NO_CONTENT,
        errors=(400, 403, 404, 413),
        headers=_USER,
    ),
    ApiRoute(
        ITEM,
        delete_item,
        method="DELETE",
        summary="Delete one item",
        status=NO_CONTENT,
        errors=(400,),
        headers=_USER,
    ),
    ApiRoute(
        ATTACHMENT,
        get_attachment,
        method="GET",
        summary="Load attachment metadata",
        response=AttachmentBody,
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        ATTACHMENT,
        put_attachment,
        method="PUT",
        summary="Save attachment metadata",
        body=AttachmentBody,
        status=NO_CONTENT,
        errors=(400, 413),
        headers=_USER,
    ),
    ApiRoute(
        f"{ATTACHMENT}/content",
        put_attachment_content,
        method="PUT",
        summary="Store an attachment's bytes (raw body, its content-type header)",
        status=NO_CONTENT,
        errors=(400, 403, 404, 413),
        headers=_USER,
    ),
    ApiRoute(
        f"{ATTACHMENT}/content",
        get_attachment_content,
        method="GET",
        summary="Read an attachment's bytes",
        errors=(400, 404),
        headers=_USER,
    ),
    ApiRoute(
        ATTACHMENT,
        delete_attachment,
        method="DELETE",
        summary="Delete attachment metadata",
        status=NO_CONTENT,
        errors=(400,),
        headers=_USER,
    ),
]
