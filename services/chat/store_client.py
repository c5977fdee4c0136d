"""`HttpStore`: a complete `chatkit.store.Store` backed by the store service over HTTP.

It behaves like the ChatKit SDK's own stores (its store test suite): same method
signatures and keywords, `NotFoundError` for missing threads, items and attachments,
an empty page for the items of a thread the user does not have, pages with
`has_more`/`after`, and the SDK's default id prefixes. The user id comes from the request context,
a mapping or an object with a `user_id` attribute. A store that cannot answer (or
answers what is not the contract) raises `shared.http.UpstreamUnavailable`; one that
refuses a call, `UpstreamRefused`, unless it is a quota (`QuotaExceeded`) or a size
(`RecordTooLarge`): the store's reason, passed on to the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, Thread, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter, ValidationError

from services.chat.errors import QuotaExceeded, RecordTooLarge
from shared.contracts.common import USER_ASSERTION_HEADER, USER_ID_HEADER
from shared.contracts.store import (
    MAX_PAGE_SIZE,
    AttachmentBody,
    ItemBody,
    Owned,
    OwnershipQuery,
    ThreadBody,
)
from shared.http import Answer, NotASegment, ServiceHttp, UpstreamUnavailable, segment

T = TypeVar("T")
_thread: TypeAdapter[ThreadBody] = TypeAdapter(ThreadBody)
_item: TypeAdapter[ItemBody] = TypeAdapter(ItemBody)
_attachment: TypeAdapter[AttachmentBody] = TypeAdapter(AttachmentBody)
_thread_page: TypeAdapter[Page[ThreadMetadata]] = TypeAdapter(Page[ThreadMetadata])
_item_page: TypeAdapter[Page[ThreadItem]] = TypeAdapter(Page[ThreadItem])
_owned: TypeAdapter[Owned] = TypeAdapter(Owned)


def _get(context: Any, name: str) -> Any:
    return context.get(name) if isinstance(context, Mapping) else getattr(context, name, None)


def user_id_of(context: Any) -> str:
    """The user id of a request context: `context["user_id"]` or `context.user_id`."""
    user_id = _get(context, "user_id")
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("The request context has no user_id; the store is scoped per user.")
    return user_id


def _seg(value: str) -> str:
    """`value` as one path segment; an id that cannot be one names no record."""
    try:
        return segment(value)
    except NotASegment as exc:
        raise NotFoundError(str(exc)) from None


class HttpStore(Store[Any]):
    """ChatKit store whose data lives in the store service."""

    def __init__(self, client: ServiceHttp) -> None:
        """`client` is a shared `ServiceHttp` for the store service."""
        self.client = client

    async def _call(
        self,
        method: str,
        path: str,
        context: Any,
        *,
        body: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> Answer:
        headers = {USER_ID_HEADER: user_id_of(context)}
        assertion = _get(context, "user_assertion")
        if isinstance(assertion, str):
            headers[USER_ASSERTION_HEADER] = assertion
        response = await self.client.request(
            method, path, body=body, params=params, headers=headers, expect=(403, 404, 413)
        )
        if response.status == 404:
            raise NotFoundError(response.error_message())
        if response.status == 403:
            raise QuotaExceeded(response.error_message())
        if response.status == 413:
            raise RecordTooLarge(response.error_message())
        return response

    # -- threads -------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        response = await self._call("GET", f"/v1/threads/{_seg(thread_id)}", context)
        return _read(_thread, response).thread

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        if isinstance(thread, Thread):
            thread = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        body = ThreadBody(thread=thread).model_dump_json().encode()
        await self._call("PUT", f"/v1/threads/{_seg(thread.id)}", context, body=body)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        params = _page_params(limit, after, order)
        response = await self._call("GET", "/v1/threads", context, params=params)
        return _read(_thread_page, response)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        await self._call("DELETE", f"/v1/threads/{_seg(thread_id)}", context)

    # -- items ---------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        params = _page_params(limit, after, order)
        try:
            response = await self._call(
                "GET", f"/v1/threads/{_seg(thread_id)}/items", context, params=params
            )
        except NotFoundError:
            if after is not None:
                raise  # an unknown cursor is an error in the SDK's stores too
            return Page(data=[], has_more=False)  # no such thread of this user: no items
        return _read(_item_page, response)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        body = ItemBody(item=item).model_dump_json().encode()
        await self._call("POST", f"/v1/threads/{_seg(thread_id)}/items", context, body=body)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        body = ItemBody(item=item).model_dump_json().encode()
        await self._call(
            "PUT", f"/v1/threads/{_seg(thread_id)}/items/{_seg(item.id)}", context, body=body
        )

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        response = await self._call(
            "GET", f"/v1/threads/{_seg(thread_id)}/items/{_seg(item_id)}", context
        )
        return _read(_item, response).item

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        await self._call("DELETE", f"/v1/threads/{_seg(thread_id)}/items/{_seg(item_id)}", context)

    # -- ownership -----------------------------------------------------------

    async def owned(self, query: OwnershipQuery, context: Any) -> Owned:
        """Which of the ids in `query` the user has, in one call."""
        body = query.model_dump_json().encode()
        return _read(_owned, await self._call("POST", "/v1/owned", context, body=body))

    # -- attachments ---------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        body = AttachmentBody(attachment=attachment).model_dump_json().encode()
        await self._call("PUT", f"/v1/attachments/{_seg(attachment.id)}", context, body=body)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        response = await self._call("GET", f"/v1/attachments/{_seg(attachment_id)}", context)
        return _read(_attachment, response).attachment

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        await self._call("DELETE", f"/v1/attachments/{_seg(attachment_id)}", context)


def _read(adapter: TypeAdapter[T], answer: Answer) -> T:
    try:
        return adapter.validate_json(answer.content)
    except ValidationError as exc:
        raise UpstreamUnavailable("store", f"store service sent a malformed answer: {exc}") from exc


def _page_params(limit: int, after: str | None, order: str) -> dict[str, Any]:
    # A shorter page than asked is still a correct page: `has_more`/`after` lead on.
    params: dict[str, Any] = {"limit": max(1, min(limit, MAX_PAGE_SIZE)), "order": order}
    if after is not None:
        params["after"] = after
    return params
