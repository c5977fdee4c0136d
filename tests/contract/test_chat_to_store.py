"""The store contract: chat's `HttpStore` -> store service (real HTTP) -> PostgreSQL.

Written once as `StoreContract`, so any other `chatkit.store.Store` can be held
to the same behaviour by subclassing it with its own `store` fixture (`MemoryStore`
is, below). It includes what chatkit-python's own store suite (`tests/test_store.py`
of openai-chatkit 1.6.5) asks of a store, notably that the items of a thread the
user does not have are an empty page, not an error. (The API still answers 404 for
another user's thread: the gateway checks ownership before it forwards a request,
`tests/integration/gateway/test_chat_endpoints.py`.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chatkit.store import NotFoundError, Store
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    ClosedStatus,
    CustomTask,
    EndOfTurnItem,
    FileAttachment,
    HiddenContextItem,
    ImageAttachment,
    InferenceOptions,
    LockedStatus,
    SDKHiddenContextItem,
    TaskItem,
    ThreadItem,
    ThreadMetadata,
    URLSource,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Text

from services.chat.errors import QuotaExceeded, RecordTooLarge
from services.chat.memory_store import MemoryStore
from services.chat.store_client import HttpStore
from services.store.app import create_app
from services.store.settings import StoreSettings
from shared.contracts.store import Owned, OwnershipQuery, StoreLimits, ThreadItemIds
from shared.http import ServiceHttp, UpstreamRefused, UpstreamUnavailable
from tests.support.servers import serve

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Ctx:
    user_id: str


def new_user() -> dict[str, str]:
    return {"user_id": f"user_{uuid.uuid4().hex[:10]}"}


def thread_meta(thread_id: str | None = None, **kwargs: Any) -> ThreadMetadata:
    return ThreadMetadata(id=thread_id or f"thr_{uuid.uuid4().hex[:8]}", created_at=T0, **kwargs)


def user_message(thread_id: str, n: int, **kwargs: Any) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{n:05d}_{uuid.uuid4().hex[:6]}",
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=n),
        content=[UserMessageTextContent(text=f"message {n}")],
        inference_options=InferenceOptions(),
        **kwargs,
    )


def every_item_type(thread_id: str) -> list[ThreadItem]:
    """One item of each kind ChatKit persists."""
    at = T0
    attachment = FileAttachment(id="atc_1", name="notes.pdf", mime_type="application/pdf")
    image = ImageAttachment(
        id="atc_2", name="fig.png", mime_type="image/png", preview_url="https://example.com/p.png"
    )
    return [
        user_message(thread_id, 1, attachments=[attachment, image], quoted_text="a quote"),
        AssistantMessageItem(
            id="msg_asst",
            thread_id=thread_id,
            created_at=at,
            content=[
                AssistantMessageContent(
                    text="See chapter 2.",
                    annotations=[
                        Annotation(
                            source=URLSource(url="https://book/ch2#x", title="Ch 2"), index=13
                        )
                    ],
                )
            ],
        ),
        WidgetItem(
            id="wdg_1",
            thread_id=thread_id,
            created_at=at,
            widget=Card(children=[Text(value="Sources")]),
            copy_text="Sources",
        ),
        ClientToolCallItem(
            id="tc_1",
            thread_id=thread_id,
            created_at=at,
            call_id="call_1",
            name="highlight_passage",
            arguments={"chunk_id": "c1"},
            status="completed",
            output={"ok": True},
        ),
        TaskItem(
            id="tsk_1", thread_id=thread_id, created_at=at, task=CustomTask(title="Searching")
        ),
        WorkflowItem(
            id="wf_1",
            thread_id=thread_id,
            created_at=at,
            workflow=Workflow(type="custom", tasks=[CustomTask(title="step")]),
        ),
        HiddenContextItem(id="hc_1", thread_id=thread_id, created_at=at, content={"k": [1, 2]}),
        SDKHiddenContextItem(id="shcx_1", thread_id=thread_id, created_at=at, content="ctx"),
        EndOfTurnItem(id="eot_1", thread_id=thread_id, created_at=at),
    ]


class StoreContract:
    """Behaviour every ChatKit store must have. Subclasses provide a `store` fixture."""

    async def test_thread_metadata_round_trip(self, store: Store[Any]) -> None:
        ctx = new_user()
        plain = thread_meta()
        rich = thread_meta(
            title="Chapter 3 questions",
            status=LockedStatus(reason="archived"),
            metadata={"previous_response_id": "resp_1", "nested": {"a": [1, None]}},
        )
        closed = thread_meta(status=ClosedStatus())
        for thread in (plain, rich, closed):
            await store.save_thread(thread, context=ctx)
            assert await store.load_thread(thread.id, context=ctx) == thread
        assert (await store.load_thread(plain.id, context=ctx)).title is None

    async def test_save_thread_updates_in_place(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        thread.title = "Renamed"
        await store.save_thread(thread, context=ctx)
        assert (await store.load_thread(thread.id, context=ctx)).title == "Renamed"
        page = await store.load_threads(10, None, "asc", context=ctx)
        assert [t.id for t in page.data] == [thread.id]

    async def test_every_item_type_round_trips(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        items = every_item_type(thread.id)
        for item in items:
            await store.add_thread_item(thread.id, item, context=ctx)
        for item in items:
            assert await store.load_item(thread.id, item.id, context=ctx) == item
        page = await store.load_thread_items(thread.id, None, 50, "asc", context=ctx)
        assert page.data == items
        assert page.has_more is False

    async def test_order_and_after_paging(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        items = [user_message(thread.id, n) for n in range(7)]
        for item in items:
            await store.add_thread_item(thread.id, item, context=ctx)
        ids = [i.id for i in items]

        for order, expected in (("asc", ids), ("desc", ids[::-1])):
            seen: list[str] = []
            after = None
            while True:
                page = await store.load_thread_items(thread.id, after, 3, order, context=ctx)
                seen += [i.id for i in page.data]
                if not page.has_more:
                    assert page.after is None or len(seen) == len(ids)
                    break
                assert page.after == page.data[-1].id
                after = page.after
            assert seen == expected

        exact = await store.load_thread_items(thread.id, None, 7, "asc", context=ctx)
        assert len(exact.data) == 7 and exact.has_more is False

    async def test_overwriting_an_item_keeps_its_place(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        items = [user_message(thread.id, n) for n in range(3)]
        for item in items:
            await store.add_thread_item(thread.id, item, context=ctx)
        changed = items[0].model_copy(update={"quoted_text": "edited"})
        await store.save_item(thread.id, changed, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)
        assert [i.id for i in page.data] == [i.id for i in items]
        assert await store.load_item(thread.id, changed.id, context=ctx) == changed

    async def test_save_item_inserts_new_item(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        item = user_message(thread.id, 1)
        await store.save_item(thread.id, item, context=ctx)
        assert await store.load_item(thread.id, item.id, context=ctx) == item

    async def test_missing_records_raise_not_found(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        with pytest.raises(NotFoundError):
            await store.load_thread(thread.id, context=ctx)
        with pytest.raises(NotFoundError):
            await store.add_thread_item(thread.id, user_message(thread.id, 1), context=ctx)
        await store.save_thread(thread, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_item(thread.id, "msg_missing", context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_attachment("atc_missing", context=ctx)

    async def test_a_missing_thread_has_no_items(self, store: Store[Any]) -> None:
        """As in the SDK's suite: an empty page, not `NotFoundError`."""
        page = await store.load_thread_items("thr_missing", None, 10, "asc", context=new_user())
        assert page.data == [] and page.has_more is False

    @pytest.mark.parametrize("odd", ["", ".", ".."])
    async def test_ids_that_are_no_path_segment_name_nothing(
        self, store: Store[Any], odd: str
    ) -> None:
        """Found by the fuzzer: `/v1/threads/` + "" is another route of the store service."""
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_thread(odd, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_item(thread.id, odd, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_attachment(odd, context=ctx)
        assert (await store.load_thread_items(odd, None, 10, "asc", context=ctx)).data == []
        assert await store.load_thread(thread.id, context=ctx) == thread

    async def test_an_unknown_cursor_is_not_found(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        await store.add_thread_item(thread.id, user_message(thread.id, 1), context=ctx)
        for thread_id in (thread.id, "thr_missing"):
            with pytest.raises(NotFoundError):
                await store.load_thread_items(thread_id, "msg_missing", 10, "asc", context=ctx)

    async def test_delete_item(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        keep, drop = user_message(thread.id, 1), user_message(thread.id, 2)
        for item in (keep, drop):
            await store.add_thread_item(thread.id, item, context=ctx)
        await store.delete_thread_item(thread.id, drop.id, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_item(thread.id, drop.id, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)
        assert [i.id for i in page.data] == [keep.id]

    async def test_delete_thread_cascades_to_items(self, store: Store[Any]) -> None:
        ctx = new_user()
        thread, other = thread_meta(), thread_meta()
        for t in (thread, other):
            await store.save_thread(t, context=ctx)
            await store.add_thread_item(t.id, user_message(t.id, 1), context=ctx)
        await store.delete_thread(thread.id, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_thread(thread.id, context=ctx)
        assert (await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)).data == []
        # a new thread with the same id starts empty: the items really went
        await store.save_thread(thread, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)
        assert page.data == []
        assert len((await store.load_thread_items(other.id, None, 10, "asc", ctx)).data) == 1

    async def test_threads_are_paged_oldest_first(self, store: Store[Any]) -> None:
        ctx = new_user()
        threads = [
            ThreadMetadata(
                id=f"thr_{n}_{uuid.uuid4().hex[:6]}", created_at=T0 + timedelta(minutes=n)
            )
            for n in range(3)
        ]
        for t in threads:
            await store.save_thread(t, context=ctx)
        first = await store.load_threads(2, None, "asc", context=ctx)
        assert [t.id for t in first.data] == [threads[0].id, threads[1].id]
        assert first.has_more and first.after == threads[1].id
        rest = await store.load_threads(2, first.after, "asc", context=ctx)
        assert [t.id for t in rest.data] == [threads[2].id]
        assert rest.has_more is False and not rest.after

    async def test_threads_are_paged_newest_first(self, store: Store[Any]) -> None:
        ctx = new_user()
        threads = [
            ThreadMetadata(
                id=f"thr_{n}_{uuid.uuid4().hex[:6]}", created_at=T0 + timedelta(minutes=n)
            )
            for n in range(5)
        ]
        for t in threads:
            await store.save_thread(t, context=ctx)
        first = await store.load_threads(2, None, "desc", context=ctx)
        assert [t.id for t in first.data] == [threads[4].id, threads[3].id]
        assert first.has_more and first.after == threads[3].id
        rest = await store.load_threads(10, first.after, "desc", context=ctx)
        assert [t.id for t in rest.data] == [t.id for t in threads[2::-1]]
        assert rest.has_more is False

    async def test_users_are_isolated(self, store: Store[Any]) -> None:
        alice, mallory = new_user(), new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=alice)
        item = user_message(thread.id, 1)
        await store.add_thread_item(thread.id, item, context=alice)
        attachment = FileAttachment(
            id=f"atc_{uuid.uuid4().hex[:8]}", name="a.txt", mime_type="text/plain"
        )
        await store.save_attachment(attachment, context=alice)

        with pytest.raises(NotFoundError):
            await store.load_thread(thread.id, context=mallory)
        with pytest.raises(NotFoundError):
            await store.load_item(thread.id, item.id, context=mallory)
        # the SDK's suite: another user's thread has no items for them (not an error)
        theirs = await store.load_thread_items(thread.id, None, 10, "asc", context=mallory)
        assert theirs.data == [] and theirs.has_more is False
        with pytest.raises(NotFoundError):
            await store.add_thread_item(thread.id, user_message(thread.id, 2), context=mallory)
        with pytest.raises(NotFoundError):
            await store.load_attachment(attachment.id, context=mallory)
        assert (await store.load_threads(10, None, "desc", context=mallory)).data == []

        # deletes by another user change nothing
        await store.delete_thread_item(thread.id, item.id, context=mallory)
        await store.delete_thread(thread.id, context=mallory)
        await store.delete_attachment(attachment.id, context=mallory)
        assert await store.load_item(thread.id, item.id, context=alice) == item
        assert await store.load_attachment(attachment.id, context=alice) == attachment

    async def test_ownership_is_answered_in_one_query(self, store: Store[Any]) -> None:
        owned = getattr(store, "owned", None)
        if owned is None:
            pytest.skip(f"{type(store).__name__} has no ownership query")
        alice, mallory = new_user(), new_user()
        thread, other = thread_meta(), thread_meta()
        for t in (thread, other):
            await store.save_thread(t, context=alice)
        item = user_message(thread.id, 1)
        await store.add_thread_item(thread.id, item, context=alice)
        elsewhere = user_message(other.id, 2)
        await store.add_thread_item(other.id, elsewhere, context=alice)
        attachment = FileAttachment(
            id=f"atc_{uuid.uuid4().hex[:8]}", name="a.txt", mime_type="text/plain"
        )
        await store.save_attachment(attachment, context=alice)
        query = OwnershipQuery(
            thread_ids=[thread.id, "thr_nope", thread.id],
            attachment_ids=[attachment.id, "atc_nope"],
            items=ThreadItemIds(thread_id=thread.id, item_ids=[item.id, elsewhere.id, item.id]),
        )

        mine = await owned(query, alice)
        assert sorted(mine.thread_ids) == [thread.id]  # each once
        assert mine.attachment_ids == [attachment.id]
        assert mine.item_ids == [item.id]  # an item of another thread is not in this one
        theirs = await owned(query, mallory)
        assert theirs == Owned(thread_ids=[], attachment_ids=[], item_ids=[])

    async def test_attachment_metadata_round_trip_and_delete(self, store: Store[Any]) -> None:
        ctx = new_user()
        image = ImageAttachment(
            id=f"atc_{uuid.uuid4().hex[:8]}",
            name="figure.png",
            mime_type="image/png",
            preview_url="https://cdn.example.com/figure.png",
            metadata={"bytes": 1234},
        )
        await store.save_attachment(image, context=ctx)
        assert await store.load_attachment(image.id, context=ctx) == image
        moved = image.model_copy(update={"thread_id": "thr_x"})
        await store.save_attachment(moved, context=ctx)
        assert (await store.load_attachment(image.id, context=ctx)).thread_id == "thr_x"
        await store.delete_attachment(image.id, context=ctx)
        with pytest.raises(NotFoundError):
            await store.load_attachment(image.id, context=ctx)

    async def test_context_may_be_an_object(self, store: Store[Any]) -> None:
        user = new_user()["user_id"]
        thread = thread_meta()
        await store.save_thread(thread, context=Ctx(user))
        assert await store.load_thread(thread.id, context={"user_id": user}) == thread

    async def test_generated_ids_use_sdk_prefixes(self, store: Store[Any]) -> None:
        thread = thread_meta()
        assert store.generate_thread_id(None).startswith("thr_")
        assert store.generate_item_id("message", thread, None).startswith("msg_")
        assert store.generate_item_id("tool_call", thread, None).startswith("tc_")
        assert store.generate_item_id("sdk_hidden_context", thread, None).startswith("shcx_")
        assert store.generate_item_id("task", thread, None).startswith("tsk_")
        assert store.generate_item_id("workflow", thread, None).startswith("wf_")


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestHttpStore(StoreContract):
    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[HttpStore]:
        async with ServiceHttp(store_url, service="store", token=None) as client:
            yield HttpStore(client)

    async def test_readding_an_identical_item_is_a_noop(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        item = user_message(thread.id, 1)
        await store.add_thread_item(thread.id, item, context=ctx)
        await store.add_thread_item(thread.id, item, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)
        assert [i.id for i in page.data] == [item.id]
        with pytest.raises(UpstreamRefused) as err:
            await store.add_thread_item(
                thread.id, item.model_copy(update={"quoted_text": "other"}), context=ctx
            )
        assert err.value.status == 409

    async def test_concurrent_writers_keep_every_item_in_order(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        items = [user_message(thread.id, n) for n in range(40)]
        await asyncio.gather(*(store.add_thread_item(thread.id, i, context=ctx) for i in items))
        page = await store.load_thread_items(thread.id, None, 100, "asc", context=ctx)
        assert sorted(i.id for i in page.data) == sorted(i.id for i in items)
        desc = await store.load_thread_items(thread.id, None, 100, "desc", context=ctx)
        assert [i.id for i in desc.data] == [i.id for i in page.data][::-1]

    async def test_context_without_user_is_refused(self, store: HttpStore) -> None:
        with pytest.raises(ValueError, match="user_id"):
            await store.load_thread("thr_1", context={})

    async def test_page_larger_than_store_maximum_still_pages(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10_000, "asc", context=ctx)
        assert page.data == [] and page.has_more is False


LIMITS = StoreLimits(
    store_max_item_bytes=4096, store_max_metadata_bytes=2048, store_max_page_bytes=10_000
)


class TestHttpStoreLimits:
    """A store held to small sizes and quotas: its refusals reach the SDK as the chat
    service's errors (403 `QuotaExceeded`, 413 `RecordTooLarge`), and its fullest page
    fits the answer bound chat reads it with (`StoreLimits.store_answer_bytes`)."""

    @pytest.fixture(scope="class")
    @classmethod
    def limited_url(cls, database_url: str) -> Iterator[str]:
        settings = StoreSettings(
            database_url=database_url,
            log_level="warning",
            max_threads_per_user=2,
            max_items_per_thread=4,
            reply_items_reserved=1,
            **LIMITS.model_dump(),
        )
        with serve(create_app(settings)) as url:
            yield url

    @pytest.fixture
    async def store(self, limited_url: str) -> AsyncIterator[HttpStore]:
        bound = LIMITS.store_answer_bytes
        async with ServiceHttp(
            limited_url, service="store", token=None, max_body_bytes=bound
        ) as client:
            yield HttpStore(client)

    async def test_a_thread_over_the_quota_is_quota_exceeded(self, store: HttpStore) -> None:
        ctx = new_user()
        kept = [thread_meta(), thread_meta()]
        for thread in kept:
            await store.save_thread(thread, context=ctx)
        with pytest.raises(QuotaExceeded, match="2 threads") as refused:
            await store.save_thread(thread_meta(), context=ctx)
        assert refused.value.code == "quota_exceeded"
        page = await store.load_threads(10, None, "asc", context=ctx)
        assert sorted(t.id for t in page.data) == sorted(t.id for t in kept)

    async def test_a_message_into_a_full_thread_is_quota_exceeded(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        for n in range(3):  # the third message would leave no room for its reply
            await store.add_thread_item(thread.id, user_message(thread.id, n), context=ctx)
        with pytest.raises(QuotaExceeded):
            await store.add_thread_item(thread.id, user_message(thread.id, 3), context=ctx)
        reply = AssistantMessageItem(id="msg_reply", thread_id=thread.id, created_at=T0, content=[])
        await store.add_thread_item(thread.id, reply, context=ctx)
        page = await store.load_thread_items(thread.id, None, 10, "asc", context=ctx)
        assert len(page.data) == 4

    async def test_an_item_over_the_size_limit_is_record_too_large(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        big = user_message(thread.id, 1)
        big.content = [UserMessageTextContent(text="x" * 5000)]
        with pytest.raises(RecordTooLarge, match="4096"):
            await store.add_thread_item(thread.id, big, context=ctx)
        with pytest.raises(RecordTooLarge):
            await store.save_thread(thread_meta(thread.id, title="t" * 3000), context=ctx)
        assert (await store.load_thread(thread.id, context=ctx)).title is None

    async def test_the_fullest_pages_fit_the_answer_bound(self, store: HttpStore) -> None:
        ctx = new_user()
        thread = thread_meta()
        await store.save_thread(thread, context=ctx)
        # Ids as long as they come (the cursor too) and items as large as they may be.
        items = []
        for n in range(4):
            item = AssistantMessageItem(
                id=f"{n}" + "i" * 254,
                thread_id=thread.id,
                created_at=T0,
                content=[AssistantMessageContent(text="y" * 3600)],
            )
            await store.add_thread_item(thread.id, item, context=ctx)
            items.append(item)
        pages = []
        after = None
        while True:
            page = await store.load_thread_items(thread.id, after, 200, "asc", context=ctx)
            # (compact JSON is shorter than what the store measures and serves)
            assert sum(len(i.model_dump_json()) for i in page.data) <= LIMITS.store_max_page_bytes
            pages.append(page.data)
            if not page.has_more:
                break
            after = page.after
        assert len(pages) > 1 and all(pages)
        assert [i for page in pages for i in page] == items


def test_unreachable_store_is_reported_as_unavailable() -> None:

    async def scenario() -> None:
        async with ServiceHttp(
            "http://127.0.0.1:9", service="store", token=None, timeout_s=1
        ) as client:
            with pytest.raises(UpstreamUnavailable):
                await HttpStore(client).load_thread("thr_1", context={"user_id": "u"})

    asyncio.run(scenario())
