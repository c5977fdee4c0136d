"""What the gateway's handlers share: settings, clients, limiter, auth, uploads, book."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from starlette.requests import Request

from services.gateway.attachments import Uploads
from services.gateway.auth import Authenticator
from services.gateway.book import Book
from services.gateway.errors import MalformedRequest, NotFound, OriginRefused, RateLimited
from services.gateway.proxy import ChatUpstream, StreamClock, UpstreamCall
from services.gateway.ratelimit import Limiter, StreamCap, client_address, retry_after
from services.gateway.rewrite import Forward, Limits
from services.gateway.settings import GatewaySettings
from services.gateway.store_client import StoreClient
from shared.assertions import user_headers
from shared.contracts.chat import (
    CHATKIT_PATH,
    IDEMPOTENCY_KEY_HEADER,
    RESUMABLE_HEADER,
    STOP_PATH,
    STREAM_PATH,
)
from shared.contracts.common import MAX_ID_LENGTH, is_id
from shared.contracts.gateway import GATEWAY_URL_HEADER
from shared.contracts.store import OwnershipQuery, ThreadItemIds


@dataclass
class Gateway:
    """The gateway's long-lived parts, opened in the app's lifespan."""

    settings: GatewaySettings
    chat: ChatUpstream
    store: StoreClient
    limiter: Limiter
    auth: Authenticator
    uploads: Uploads
    book: Book
    limits: Limits
    clock: StreamClock

    async def guard(self, request: Request) -> str:
        """Origin check (403), authentication (401) and rate limits (429): the user id."""
        self.check_origin(request)
        user_id = await self.auth.user_id(request)
        decision = await self.limiter.check_request(user_id, client_address(request.scope))
        if not decision.allowed:
            raise RateLimited("Too many requests; slow down.", retry_after_s=retry_after(decision))
        return user_id

    async def check_address_rate(self, request: Request) -> None:
        """The per-address rate limit alone (429), for public reads that cost an internal call."""
        decision = await self.limiter.check_address(client_address(request.scope))
        if not decision.allowed:
            raise RateLimited("Too many requests; slow down.", retry_after_s=retry_after(decision))

    def check_origin(self, request: Request) -> None:
        """Browsers may call the API only from this origin or a configured one (CSRF)."""
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a browser cross-site request (curl, server-to-server)
        if origin in self.settings.cors_origins:
            return
        if urlsplit(origin).netloc and urlsplit(origin).netloc == request.headers.get("host"):
            return
        raise OriginRefused(f"Origin {origin!r} is not allowed to call this API.")

    async def forward(self, request: Request, user_id: str, forward: Forward) -> UpstreamCall:
        """Take a stream slot (for a streaming request), check in one store call that the
        user has what the request names, and relay it to the chat service."""
        headers = self._upstream_headers(request, user_id)
        headers["content-type"] = "application/json"
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key:
            if len(key) > MAX_ID_LENGTH:
                raise MalformedRequest(f"{IDEMPOTENCY_KEY_HEADER} is too long.")
            headers[IDEMPOTENCY_KEY_HEADER] = key
        if request.headers.get(RESUMABLE_HEADER) == "1":
            headers[RESUMABLE_HEADER] = "1"
        body = forward.body()
        if not forward.streaming:
            await self.check_owned(user_id, forward)
            return UpstreamCall(self.chat, body, headers, self.clock)
        return await self._stream(request, user_id, forward, body, headers)

    async def resume(self, request: Request, user_id: str, thread_id: str) -> UpstreamCall:
        """Relay the resumable answer on the user's thread, after the `Last-Event-ID` the
        client names (204 from the chat service when there is none)."""
        headers = self._upstream_headers(request, user_id)
        last = request.headers.get("last-event-id")
        if last:
            if len(last) > MAX_ID_LENGTH:
                raise MalformedRequest("Last-Event-ID is too long.")
            headers["last-event-id"] = last
        forward = Forward(None, streaming=True, thread_ids=[thread_id])
        path = STREAM_PATH.format(thread_id=thread_id)
        return await self._stream(request, user_id, forward, b"", headers, "GET", path)

    async def stop(self, request: Request, user_id: str, thread_id: str) -> UpstreamCall:
        """Relay a stop of the resumable answer on the user's thread."""
        await self.check_owned(user_id, Forward(None, streaming=False, thread_ids=[thread_id]))
        headers = self._upstream_headers(request, user_id)
        path = STOP_PATH.format(thread_id=thread_id)
        return UpstreamCall(self.chat, b"", headers, self.clock, path=path, outlives_client=True)

    def _upstream_headers(self, request: Request, user_id: str) -> dict[str, str]:
        return {
            **user_headers(user_id, self.store.signer),
            GATEWAY_URL_HEADER: self.uploads.base_url(request),
        }

    async def _stream(
        self,
        request: Request,
        user_id: str,
        forward: Forward,
        body: bytes,
        headers: dict[str, str],
        method: str = "POST",
        path: str = CHATKIT_PATH,
    ) -> UpstreamCall:
        # The slot first: a user already at the cap costs no store call.
        slot = await self.limiter.acquire_stream(user_id, client_address(request.scope))
        if isinstance(slot, str):
            raise RateLimited(self._stream_cap_message(slot), retry_after_s=1)
        try:
            await self.check_owned(user_id, forward)
        except BaseException:
            await slot.release()
            raise
        return UpstreamCall(
            self.chat,
            body,
            headers,
            self.clock,
            on_close=slot.release,
            keepalive=slot.renew_if_due,
            method=method,
            path=path,
        )

    def _stream_cap_message(self, cap: StreamCap) -> str:
        s = self.settings
        if cap == "user":
            return (
                f"At most {s.max_streams_per_user} answers may stream at once; "
                "stop one or wait for it to finish."
            )
        if cap == "address":
            return (
                f"At most {s.max_streams_per_address} answers may stream at once from one "
                "address; wait for one to finish."
            )
        return "The assistant is answering as many questions as it can; try again shortly."

    async def check_owned(self, user_id: str, forward: Forward) -> None:
        """404 unless the user has every thread, attachment and item `forward` names."""
        kinds = (
            ("Thread", forward.thread_ids),
            ("Attachment", forward.attachment_ids),
            ("Item", forward.item_ids),
        )
        for kind, ids in kinds:
            for value in ids:
                if not is_id(value):  # names no record; the store would refuse the query
                    raise NotFound(f"{kind} {value!r} not found.")
        if not any(ids for _, ids in kinds):
            return
        items = None
        if forward.item_ids and forward.thread_ids:
            items = ThreadItemIds(thread_id=forward.thread_ids[0], item_ids=forward.item_ids)
        owned = await self.store.owned(
            user_id,
            OwnershipQuery(
                thread_ids=forward.thread_ids, attachment_ids=forward.attachment_ids, items=items
            ),
        )
        found = (owned.thread_ids, owned.attachment_ids, owned.item_ids)
        for (kind, ids), have in zip(kinds, found, strict=True):
            missing = next((value for value in ids if value not in set(have)), None)
            if missing is not None:
                raise NotFound(f"{kind} {missing!r} not found.")

    async def close(self) -> None:
        await self.clock.close()
        await self.chat.close()
        await self.store.client.aclose()
        await self.book.close()
        await self.limiter.close()


class GatewayState(TypedDict):
    """What the lifespan hands the handlers (`request.state["gateway"]`)."""

    gateway: Gateway
