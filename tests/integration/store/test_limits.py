"""Sizes and quotas of the store over real HTTP: what is refused, that a refusal changes
nothing, that concurrent writers cannot overshoot, that pages stop at their byte bound,
and that attachments go with their thread."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from services.store.app import create_app
from services.store.migrate import available_migrations, migrate
from services.store.settings import StoreSettings
from shared.contracts.store import ENVELOPE_BYTES
from tests.support.postgres import fresh_database
from tests.support.servers import serve
from tests.support.waiting import until

LIMITS: dict[str, Any] = {
    "store_max_item_bytes": 4096,
    "store_max_metadata_bytes": 2048,
    "store_max_page_bytes": 10_000,
    "max_threads_per_user": 5,
    "max_items_per_thread": 8,
    "reply_items_reserved": 3,
    "max_attachment_bytes_per_user": 10_000,
}
T0 = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def limited_url(database_url: str) -> Iterator[str]:
    """A store held to small limits (on the run's database: limits are per connection)."""
    settings = StoreSettings(database_url=database_url, log_level="warning", **LIMITS)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
async def client(limited_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A new user's client, with thread `thr_a` holding one item."""
    user = f"u_{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=limited_url, headers={"x-user-id": user}) as c:
        assert (await c.put("/v1/threads/thr_a", json=thread("thr_a"))).status_code == 204
        assert (await c.post("/v1/threads/thr_a/items", json=item("msg_1"))).status_code == 201
        yield c


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of its own on the store's database (no `chatkit.*` limits)."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def thread(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"thread": {"id": thread_id, "created_at": T0, **extra}}


def item(
    item_id: str, text: str = "hello", kind: str = "assistant_message", thread_id: str = "thr_a"
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item_id, "thread_id": thread_id, "created_at": T0}
    if kind == "user_message":
        body |= {"content": [{"type": "input_text", "text": text}], "inference_options": {}}
    else:
        body["content"] = [{"text": text}]
    return {"item": {"type": kind, **body}}


def attachment(attachment_id: str, thread_id: str | None = None) -> dict[str, Any]:
    meta = {"type": "file", "id": attachment_id, "name": "n.bin", "mime_type": "x/y"}
    return {"attachment": meta | ({"thread_id": thread_id} if thread_id else {})}


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"]
    return str(error["message"])


async def item_ids(client: httpx.AsyncClient, thread_id: str = "thr_a") -> list[str]:
    return [i["id"] for i in await all_items(client, thread_id, "asc")]


async def all_items(client: httpx.AsyncClient, thread_id: str, order: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200, "order": order}
    while True:
        page = (await client.get(f"/v1/threads/{thread_id}/items", params=params)).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        params["after"] = page["after"]


# -- sizes ---------------------------------------------------------------------------


async def test_an_item_over_the_size_limit_is_refused_and_nothing_changes(
    client: httpx.AsyncClient,
) -> None:
    big = "x" * 5000
    message = assert_error(
        await client.post("/v1/threads/thr_a/items", json=item("msg_2", big)),
        413,
        "payload_too_large",
    )
    assert "4096" in message
    assert_error(
        await client.put("/v1/threads/thr_a/items/msg_1", json=item("msg_1", big)),
        413,
        "payload_too_large",
    )
    page = (await client.get("/v1/threads/thr_a/items")).json()
    assert [(i["id"], i["content"][0]["text"]) for i in page["data"]] == [("msg_1", "hello")]


async def test_the_size_is_that_of_the_json_served(
    client: httpx.AsyncClient, pg: asyncpg.Connection
) -> None:
    # jsonb's text puts a space after every ':' and ',': an item whose compact JSON fits
    # can still be over the limit as the store serves it, and is refused by the database.
    parts = 1
    while True:
        body = item("msg_2")
        body["item"]["content"] = [{"text": ""}] * parts
        compact = len(json.dumps(body["item"], separators=(",", ":")))
        served = await pg.fetchval("SELECT octet_length($1::jsonb::text)", json.dumps(body["item"]))
        if served > 4096:
            break
        parts += 1
    if compact > 4096:
        pytest.skip("no item size lies between the compact and the served JSON")
    assert_error(await client.post("/v1/threads/thr_a/items", json=body), 413, "payload_too_large")
    assert await item_ids(client) == ["msg_1"]


async def test_metadata_over_the_size_limit_is_refused(client: httpx.AsyncClient) -> None:
    long_title = thread("thr_a", title="t" * 3000)
    assert_error(await client.put("/v1/threads/thr_a", json=long_title), 413, "payload_too_large")
    new_long = thread("thr_b", title="t" * 3000)
    assert_error(await client.put("/v1/threads/thr_b", json=new_long), 413, "payload_too_large")
    assert (await client.get("/v1/threads/thr_a")).json()["thread"].get("title") is None
    assert_error(await client.get("/v1/threads/thr_b"), 404, "not_found")
    meta = attachment("atc_1")
    meta["attachment"]["name"] = "n" * 3000
    assert_error(await client.put("/v1/attachments/atc_1", json=meta), 413, "payload_too_large")
    assert_error(await client.get("/v1/attachments/atc_1"), 404, "not_found")


async def test_item_pages_stop_at_the_byte_bound_and_lead_on_to_every_item(
    client: httpx.AsyncClient, pg: asyncpg.Connection
) -> None:
    for n in range(2, 9):  # 7 more items: sizes from 500 to 3,500 bytes
        body = item(f"msg_{n}", "y" * (500 * (n - 1)))
        assert (await client.post("/v1/threads/thr_a/items", json=body)).status_code == 201
    user = client.headers["x-user-id"]
    sizes = dict(
        await pg.fetch(
            "SELECT id, size FROM thread_items WHERE user_id = $1 AND thread_id = 'thr_a'", user
        )
    )
    ids = [f"msg_{n}" for n in range(1, 9)]
    for order, expected in (("asc", ids), ("desc", ids[::-1])):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 200, "order": order}
        while True:
            response = await client.get("/v1/threads/thr_a/items", params=params)
            assert len(response.content) <= LIMITS["store_max_page_bytes"] + ENVELOPE_BYTES
            page = response.json()
            got = [i["id"] for i in page["data"]]
            assert got, "a page holds at least one item"
            assert sum(sizes[i] for i in got) <= LIMITS["store_max_page_bytes"]
            rest = expected[len(seen) + len(got) :]
            if rest:  # stopped only where the next item would not have fit
                assert page["has_more"] and page["after"] == got[-1]
                assert sum(sizes[i] for i in got) + sizes[rest[0]] > LIMITS["store_max_page_bytes"]
            else:
                assert not page["has_more"]
            seen += got
            if not page["has_more"]:
                break
            params["after"] = page["after"]
        assert seen == expected


async def test_a_record_larger_than_a_page_is_served_alone(
    client: httpx.AsyncClient, pg: asyncpg.Connection
) -> None:
    # Kept before the limits were lowered (this session has none): still served, one a page.
    user = client.headers["x-user-id"]
    huge = json.dumps(item("msg_huge", "z" * 20_000)["item"])
    await pg.execute(
        """INSERT INTO thread_items (user_id, thread_id, id, seq, type, created_at, data)
           VALUES ($1, 'thr_a', 'msg_huge', 100, 'assistant_message', now(), $2::jsonb)""",
        user,
        huge,
    )
    first = (await client.get("/v1/threads/thr_a/items", params={"limit": 10})).json()
    assert [i["id"] for i in first["data"]] == ["msg_1"] and first["has_more"]
    params: dict[str, Any] = {"limit": 10, "after": "msg_1"}
    second = (await client.get("/v1/threads/thr_a/items", params=params)).json()
    assert [i["id"] for i in second["data"]] == ["msg_huge"] and not second["has_more"]


async def test_thread_pages_stop_at_the_byte_bound(
    client: httpx.AsyncClient, pg: asyncpg.Connection
) -> None:
    # More threads than the quota lets a user keep: written by a session without limits.
    user = client.headers["x-user-id"]
    for n in range(8):
        data = json.dumps(thread(f"thr_{n}", title="t" * 1900)["thread"])
        await pg.execute(
            "INSERT INTO threads (user_id, id, created_at, data) VALUES ($1, $2, now(), $3)",
            user,
            f"thr_{n}",
            data,
        )
    sizes = dict(await pg.fetch("SELECT id, size FROM threads WHERE user_id = $1", user))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        response = await client.get("/v1/threads", params=params)
        assert len(response.content) <= LIMITS["store_max_page_bytes"] + ENVELOPE_BYTES
        page = response.json()
        got = [t["id"] for t in page["data"]]
        assert got and sum(sizes[i] for i in got) <= LIMITS["store_max_page_bytes"]
        seen += got
        if not page["has_more"]:
            break
        params["after"] = page["after"]
    assert sorted(seen) == sorted(sizes) and len(seen) == 9
    assert len(seen) > len(got)  # more than one page


# -- quotas --------------------------------------------------------------------------


async def test_threads_beyond_the_quota_are_refused_until_one_is_deleted(
    client: httpx.AsyncClient,
) -> None:
    for n in range(4):
        assert (
            await client.put(f"/v1/threads/thr_{n}", json=thread(f"thr_{n}"))
        ).status_code == 204
    message = assert_error(
        await client.put("/v1/threads/thr_x", json=thread("thr_x")), 403, "quota_exceeded"
    )
    assert "5 threads" in message
    # an existing thread may still change
    renamed = thread("thr_0", title="Renamed")
    assert (await client.put("/v1/threads/thr_0", json=renamed)).status_code == 204
    listed = (await client.get("/v1/threads", params={"limit": 50})).json()["data"]
    assert sorted(t["id"] for t in listed) == ["thr_0", "thr_1", "thr_2", "thr_3", "thr_a"]
    assert (await client.delete("/v1/threads/thr_1")).status_code == 204
    assert (await client.put("/v1/threads/thr_x", json=thread("thr_x"))).status_code == 204


async def test_concurrent_thread_creations_cannot_overshoot(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(client.put(f"/v1/threads/thr_{n}", json=thread(f"thr_{n}")) for n in range(20))
    )
    assert sorted(a.status_code for a in answers) == [204] * 4 + [403] * 16
    listed = (await client.get("/v1/threads", params={"limit": 50})).json()["data"]
    assert len(listed) == 5


async def test_a_thread_keeps_room_for_the_reply_to_its_last_message(
    client: httpx.AsyncClient,
) -> None:
    # 8 items at most; a user message must leave 3 of them free.
    for n in range(2, 5):
        assert (
            await client.post("/v1/threads/thr_a/items", json=item(f"a_{n}"))
        ).status_code == 201
    asked = await client.post("/v1/threads/thr_a/items", json=item("q_5", kind="user_message"))
    assert asked.status_code == 201  # 5 items, 3 free
    late = await client.post("/v1/threads/thr_a/items", json=item("q_6", kind="user_message"))
    assert "(8)" in assert_error(late, 403, "quota_exceeded")
    for n in range(6, 9):  # the reply may fill the room
        assert (
            await client.post("/v1/threads/thr_a/items", json=item(f"a_{n}"))
        ).status_code == 201
    # the reply's next item is refused: a reply that outgrows the room is cut off here
    assert_error(
        await client.post("/v1/threads/thr_a/items", json=item("a_9")), 403, "quota_exceeded"
    )
    assert_error(
        await client.put("/v1/threads/thr_a/items/a_9", json=item("a_9")), 403, "quota_exceeded"
    )
    # adding an item that is already there again stays a no-op, and a change is no new item
    assert (await client.post("/v1/threads/thr_a/items", json=item("a_8"))).status_code == 201
    edited = await client.put("/v1/threads/thr_a/items/a_8", json=item("a_8", "edited"))
    assert edited.status_code == 204
    expected = ["msg_1", "a_2", "a_3", "a_4", "q_5", "a_6", "a_7", "a_8"]
    assert await item_ids(client) == expected
    # deleting makes room
    assert (await client.delete("/v1/threads/thr_a/items/a_2")).status_code == 204
    assert (await client.post("/v1/threads/thr_a/items", json=item("a_9"))).status_code == 201


async def test_concurrent_item_writers_cannot_overshoot(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(client.post("/v1/threads/thr_a/items", json=item(f"a_{n}")) for n in range(20))
    )
    assert sorted(a.status_code for a in answers) == [201] * 7 + [403] * 13
    assert len(await item_ids(client)) == 8


async def put_bytes(client: httpx.AsyncClient, attachment_id: str, size: int) -> httpx.Response:
    return await client.put(f"/v1/attachments/{attachment_id}/content", content=b"\1" * size)


async def test_attachment_bytes_beyond_the_quota_are_refused(client: httpx.AsyncClient) -> None:
    for name in ("atc_1", "atc_2"):
        assert (
            await client.put(f"/v1/attachments/{name}", json=attachment(name))
        ).status_code == 204
    assert (await put_bytes(client, "atc_1", 6000)).status_code == 204
    assert_error(await put_bytes(client, "atc_2", 5000), 403, "quota_exceeded")
    assert_error(await client.get("/v1/attachments/atc_2/content"), 404, "not_found")
    assert (await put_bytes(client, "atc_1", 9000)).status_code == 204  # a replacement counts once
    assert (await put_bytes(client, "atc_2", 1000)).status_code == 204  # 10,000: full
    assert_error(await put_bytes(client, "atc_1", 9001), 403, "quota_exceeded")
    assert len((await client.get("/v1/attachments/atc_1/content")).content) == 9000
    assert (await client.delete("/v1/attachments/atc_1")).status_code == 204
    assert (await put_bytes(client, "atc_2", 9000)).status_code == 204


async def test_concurrent_uploads_cannot_overshoot(client: httpx.AsyncClient) -> None:
    names = [f"atc_{n}" for n in range(10)]
    for name in names:
        assert (
            await client.put(f"/v1/attachments/{name}", json=attachment(name))
        ).status_code == 204
    answers = await asyncio.gather(*(put_bytes(client, name, 2000) for name in names))
    assert sorted(a.status_code for a in answers) == [204] * 5 + [403] * 5
    kept = [
        n for n in names if (await client.get(f"/v1/attachments/{n}/content")).status_code == 200
    ]
    assert len(kept) == 5


async def test_deleting_a_thread_deletes_the_attachments_sent_in_it(
    client: httpx.AsyncClient,
) -> None:
    await client.put("/v1/threads/thr_b", json=thread("thr_b"))
    for name, in_thread in (("atc_a", "thr_a"), ("atc_b", "thr_b"), ("atc_free", None)):
        assert (
            await client.put(f"/v1/attachments/{name}", json=attachment(name, in_thread))
        ).status_code == 204
        assert (await put_bytes(client, name, 3000)).status_code == 204
    assert (await client.delete("/v1/threads/thr_a")).status_code == 204
    assert_error(await client.get("/v1/attachments/atc_a"), 404, "not_found")
    assert_error(await client.get("/v1/attachments/atc_a/content"), 404, "not_found")
    for name in ("atc_b", "atc_free"):
        assert (await client.get(f"/v1/attachments/{name}/content")).status_code == 200
    # its bytes no longer count
    await client.put("/v1/attachments/atc_c", json=attachment("atc_c"))
    assert (await put_bytes(client, "atc_c", 4000)).status_code == 204


async def test_attachments_never_sent_are_deleted_after_their_ttl(
    client: httpx.AsyncClient, pg: asyncpg.Connection, database_url: str
) -> None:
    """An upload no message carried goes once it is older than STORE_UNSENT_ATTACHMENT_TTL_S,
    bytes and quota share with it; one sent in a thread, or a recent one, stays."""
    user = client.headers["x-user-id"]
    for name, in_thread in (("atc_old", None), ("atc_sent", "thr_a"), ("atc_new", None)):
        assert (
            await client.put(f"/v1/attachments/{name}", json=attachment(name, in_thread))
        ).status_code == 204
        assert (await put_bytes(client, name, 3000)).status_code == 204
    await pg.execute(
        "UPDATE attachments SET created_at = now() - interval '2 days'"
        " WHERE user_id = $1 AND id = ANY($2::text[])",
        user,
        ["atc_old", "atc_sent"],
    )
    # 9,000 of 10,000 bytes kept: no room for another 3,000 until the sweep frees some
    await client.put("/v1/attachments/atc_more", json=attachment("atc_more"))
    assert_error(await put_bytes(client, "atc_more", 3000), 403, "quota_exceeded")
    settings = StoreSettings(
        database_url=database_url,
        log_level="warning",
        **{**LIMITS, "unsent_attachment_ttl_s": 86_400, "attachment_sweep_interval_s": 0.05},
    )
    with serve(create_app(settings)):

        async def swept() -> bool:
            return (await client.get("/v1/attachments/atc_old")).status_code == 404

        await until(swept, within=30, what="the old unsent attachment deleted")
    assert_error(await client.get("/v1/attachments/atc_old/content"), 404, "not_found")
    for name in ("atc_sent", "atc_new"):
        assert (await client.get(f"/v1/attachments/{name}/content")).status_code == 200
    assert (await put_bytes(client, "atc_more", 3000)).status_code == 204


# -- the migration and the settings ----------------------------------------------------


async def test_the_migration_counts_what_was_kept_before(pg_admin_url: str) -> None:
    with fresh_database(pg_admin_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """CREATE TABLE schema_migrations (
                       version integer PRIMARY KEY, name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            for migration in available_migrations()[:2]:
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            await conn.execute(
                """INSERT INTO threads (user_id, id, created_at, data) VALUES
                       ('u', 't1', now(), '{"id": "t1"}'), ('u', 't2', now(), '{}'),
                       ('v', 't1', now(), '{}');
                   INSERT INTO thread_items (user_id, thread_id, id, seq, type, created_at, data)
                   VALUES ('u', 't1', 'i1', 1, 'user_message', now(), '{}'),
                          ('u', 't1', 'i2', 2, 'assistant_message', now(), '{}');
                   INSERT INTO attachments (user_id, id, mime_type, data)
                   VALUES ('v', 'a1', 'x/y', '{}');
                   INSERT INTO attachment_content (user_id, id, content_type, size, bytes)
                   VALUES ('v', 'a1', 'x/y', 300, '\\x00')"""
            )
            assert await migrate(conn) == [m.version for m in available_migrations()[2:]]
            usage = await conn.fetch("SELECT * FROM user_usage ORDER BY user_id")
            assert [tuple(r) for r in usage] == [("u", 2, 0), ("v", 1, 300)]
            counts = await conn.fetch(
                "SELECT user_id, id, item_count, size FROM threads ORDER BY user_id, id"
            )
            assert [tuple(r) for r in counts] == [
                ("u", "t1", 2, 12),
                ("u", "t2", 0, 2),
                ("v", "t1", 0, 2),
            ]
        finally:
            await conn.close()


def test_limits_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(ValidationError, match="a page always holds one record"):
        StoreSettings(store_max_page_bytes=100_000)  # below the 256 KiB item
    with pytest.raises(ValidationError, match="REPLY_ITEMS_RESERVED"):
        StoreSettings(max_items_per_thread=10, reply_items_reserved=10)
