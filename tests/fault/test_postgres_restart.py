"""PostgreSQL restarted under load: the store service rides it out, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from services.chat.store_client import HttpStore
from shared.http import ServiceHttp, UpstreamUnavailable
from tests.support.postgres import embedded_postgres
from tests.support.processes import running

pytestmark = pytest.mark.fault

WRITERS = 8
RUN_FOR_S = 4.0


def _item(thread_id: str, n: int) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{n:05d}_{uuid.uuid4().hex[:6]}",
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text=f"turn {n}")],
        inference_options=InferenceOptions(),
    )


def test_postgres_restart_under_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with (
        embedded_postgres() as pg,
        running(
            "store", {"STORE_DATABASE_URL": pg.url}, log_path=str(tmp_path / "store.log")
        ) as store,
    ):
        acked: dict[str, list[str]] = {}
        failures: list[BaseException] = []

        async def writer(store_client: HttpStore, ctx: dict[str, str], stop_at: float) -> None:
            thread = ThreadMetadata(id=f"thr_{uuid.uuid4().hex[:8]}", created_at=datetime.now(UTC))
            await store_client.save_thread(thread, context=ctx)
            acked[thread.id] = []
            n = 0
            while time.monotonic() < stop_at:
                item = _item(thread.id, n)
                n += 1
                try:
                    await store_client.add_thread_item(thread.id, item, context=ctx)
                    acked[thread.id].append(item.id)
                except UpstreamUnavailable as exc:
                    failures.append(exc)

        async def scenario() -> None:
            async with ServiceHttp(store.url, service="store", token=None, timeout_s=30) as client:
                http_store = HttpStore(client)
                ctx = {"user_id": "restart-user"}
                stop_at = time.monotonic() + RUN_FOR_S
                writers = [
                    asyncio.create_task(writer(http_store, ctx, stop_at)) for _ in range(WRITERS)
                ]
                await asyncio.sleep(RUN_FOR_S / 3)
                await asyncio.to_thread(pg.restart)
                await asyncio.gather(*writers)

                for thread_id, ids in acked.items():
                    stored = []
                    after = None
                    while True:
                        page = await http_store.load_thread_items(thread_id, after, 200, "asc", ctx)
                        stored += [i.id for i in page.data]
                        if not page.has_more:
                            break
                        after = page.after
                    # every acknowledged write is there, once, in the order it was made
                    assert [i for i in stored if i in set(ids)] == ids
                    assert not [i for i, c in Counter(stored).items() if c > 1]

        asyncio.run(scenario())
        writes = sum(len(v) for v in acked.values())
        assert writes > WRITERS * 10, "the load never ran"
        # at most the requests in flight when the server went down may fail
        assert len(failures) <= WRITERS, failures
