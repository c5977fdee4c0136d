"""Store benchmark: the HTTP path (HttpStore -> store service -> asyncpg) vs asyncpg direct.

Both paths run the same repository code against the same database in one run:
add_thread_item latency, a 50-item page deep in a 10,000-item thread vs a
100-item thread, and items/s with 32 concurrent writers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import uvloop
from chatkit.types import (
    InferenceOptions,
    Page,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import TypeAdapter

from bench.config import scaled
from bench.stats import Row, latency_rows, time_calls
from services.chat.store_client import HttpStore
from services.store.database import Database
from services.store.repository import ChatKitRepository
from shared.http import ServiceHttp
from tests.support.postgres import admin_url, fresh_database
from tests.support.processes import running

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_items: TypeAdapter[list[Any]] = TypeAdapter(list[ThreadItem])
N_LATENCY = scaled(400, 40, "BENCH_STORE_N")
WRITERS = 32
ITEMS_PER_WRITER = scaled(40, 5)


def _item(thread_id: str, n: int) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=n),
        content=[
            UserMessageTextContent(text=f"A question about chapter {n % 9}, phrased at length.")
        ],
        inference_options=InferenceOptions(),
    )


class DirectStore:
    """The repository called in-process: the asyncpg-direct baseline."""

    def __init__(self, repo: ChatKitRepository) -> None:
        self.repo = repo

    async def add_thread_item(self, thread_id: str, item: Any, context: dict[str, str]) -> None:
        await self.repo.add_item(context["user_id"], thread_id, item)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: dict[str, str]
    ) -> Any:
        page = await self.repo.list_items(
            context["user_id"],
            thread_id,
            limit=limit,
            after=after,
            order=order,  # type: ignore[arg-type]
        )
        return Page(data=_items.validate_json(f"[{','.join(page.data)}]"), has_more=page.has_more)


async def _seed(db: Database, user: str, thread_id: str, count: int) -> list[str]:
    """Insert a thread with `count` items in bulk; returns the item ids in order."""
    repo = ChatKitRepository(db)
    await repo.save_thread(user, ThreadMetadata(id=thread_id, created_at=T0))
    items = [_item(thread_id, n) for n in range(count)]
    rows = [
        (user, thread_id, it.id, n + 1, it.type, it.created_at, it.model_dump_json())
        for n, it in enumerate(items)
    ]

    async def copy(conn: Any) -> None:
        await conn.executemany(
            "INSERT INTO thread_items (user_id, thread_id, id, seq, type, created_at, data)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
            rows,
        )
        await conn.execute(
            "UPDATE threads SET item_seq = $3 WHERE user_id = $1 AND id = $2",
            user,
            thread_id,
            count,
        )

    await db.run(copy)
    # Fresh statistics, as autovacuum keeps them on a live table: without them the
    # planner may read the cursor's row through the wrong index.
    await db.run(lambda c: c.execute("ANALYZE thread_items"))
    return [it.id for it in items]


def _page_call(store: Any, thread_id: str, cursor: str, ctx: dict[str, str]) -> Any:
    return lambda: store.load_thread_items(thread_id, cursor, 50, "asc", ctx)


async def _measure(store: Any, db: Database, label: str) -> dict[str, Any]:
    user = f"bench_{label}_{uuid.uuid4().hex[:6]}"
    ctx = {"user_id": user}
    repo = ChatKitRepository(db)

    # add_thread_item latency on a fresh thread
    thread_id = f"thr_{uuid.uuid4().hex[:8]}"
    await repo.save_thread(user, ThreadMetadata(id=thread_id, created_at=T0))
    counter = iter(range(10**9))
    add = await time_calls(
        lambda: store.add_thread_item(thread_id, _item(thread_id, next(counter)), context=ctx),
        N_LATENCY,
    )

    # 50-item pages from the middle of a 10,000-item and a 100-item thread
    pages = {}
    for size in (10_000, 100):
        tid = f"thr_{size}_{uuid.uuid4().hex[:6]}"
        ids = await _seed(db, user, tid, size)
        cursor = ids[size // 2 - 26]
        pages[size] = await time_calls(_page_call(store, tid, cursor, ctx), N_LATENCY)

    # throughput: 32 writers, each appending to its own thread
    threads = [f"thr_w{w}_{uuid.uuid4().hex[:6]}" for w in range(WRITERS)]
    for tid in threads:
        await repo.save_thread(user, ThreadMetadata(id=tid, created_at=T0))

    async def writer(tid: str) -> None:
        for n in range(ITEMS_PER_WRITER):
            await store.add_thread_item(tid, _item(tid, n), context=ctx)

    started = time.perf_counter()
    await asyncio.gather(*(writer(t) for t in threads))
    rate = WRITERS * ITEMS_PER_WRITER / (time.perf_counter() - started)
    return {"add": add, "page10k": pages[10_000], "page100": pages[100], "rate": rate}


async def _run(database_url: str, store_url: str) -> list[Row]:
    db = await Database.open(database_url, min_size=4, max_size=20)
    try:
        async with ServiceHttp(store_url, service="store", token=None) as client:
            http = await _measure(HttpStore(client), db, "http")
        direct = await _measure(DirectStore(ChatKitRepository(db)), db, "direct")
    finally:
        await db.close()
    g = "store"
    add = latency_rows(g, "add_thread_item, HTTP vs asyncpg", http["add"], direct["add"])
    add[0].max_ratio = 3.0  # p50
    return [
        *add,
        *latency_rows(
            g, "50-item page of 10k thread, HTTP vs asyncpg", http["page10k"], direct["page10k"]
        ),
        *latency_rows(
            g,
            "50-item page, 10k vs 100-item thread (HTTP)",
            http["page10k"],
            http["page100"],
            "within 20%",
        ),
        Row(
            g,
            "items/s, 32 concurrent writers, HTTP vs asyncpg",
            http["rate"],
            "items/s",
            direct["rate"],
        ),
    ]


def main() -> list[Row]:
    """Start PostgreSQL and a store service process, then measure both paths."""
    with admin_url() as admin, fresh_database(admin) as url:
        env = {"STORE_DATABASE_URL": url, "STORE_LOG_LEVEL": "warning", "STORE_POOL_MAX_SIZE": "20"}
        # The client on uvloop, as under uvicorn: the store's real caller (chat) runs on it.
        with (
            running("store", env) as store,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            return runner.run(_run(url, store.url))


if __name__ == "__main__":
    from bench.stats import print_table

    print_table(main())
