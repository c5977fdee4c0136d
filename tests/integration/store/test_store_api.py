"""The store service over real HTTP: bad input, auth, migrations, reconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.store.app import create_app
from services.store.database import Database
from services.store.migrate import available_migrations, migrate
from services.store.settings import StoreSettings
from tests.support.postgres import fresh_database
from tests.support.servers import serve

THREAD = {"thread": {"id": "thr_a", "created_at": "2026-01-01T00:00:00Z"}}


def item(item_id: str = "msg_1", thread_id: str = "thr_a", **extra: Any) -> dict[str, Any]:
    return {
        "item": {
            "type": "assistant_message",
            "id": item_id,
            "thread_id": thread_id,
            "created_at": "2026-01-01T00:00:00Z",
            "content": [{"text": "hello"}],
            **extra,
        }
    }


@pytest.fixture
async def client(store_url: str) -> AsyncIterator[httpx.AsyncClient]:
    user = f"u_{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=store_url, headers={"x-user-id": user}) as c:
        assert (await c.put("/v1/threads/thr_a", json=THREAD)).status_code == 204
        assert (await c.post("/v1/threads/thr_a/items", json=item())).status_code == 201
        yield c


async def assert_unchanged(client: httpx.AsyncClient) -> None:
    page = (await client.get("/v1/threads/thr_a/items")).json()
    assert [i["id"] for i in page["data"]] == ["msg_1"]
    assert page["data"][0]["content"][0]["text"] == "hello"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and error["request_id"]
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b'{"item": {"type": "spaceship", "id": "msg_1"}}', 422),
        (b'{"item": {"type": "assistant_message"}, "surprise": 1}', 422),
        (b"[1, 2, 3]", 422),
    ],
    ids=["malformed", "empty", "unknown-item-type", "unknown-field", "wrong-shape"],
)
async def test_bad_item_bodies_are_refused_and_nothing_changes(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.put("/v1/threads/thr_a/items/msg_1", content=body)
    assert_error(response, status)
    await assert_unchanged(client)


async def test_overlong_ids_are_refused(client: httpx.AsyncClient) -> None:
    long_id = "m" * 256
    assert_error(await client.post("/v1/threads/thr_a/items", json=item(long_id)), 422)
    assert_error(await client.get(f"/v1/threads/{'t' * 256}"), 422)
    assert_error(await client.get("/v1/threads/thr_a/items", params={"after": long_id}), 422)
    await assert_unchanged(client)


async def test_mismatched_ids_are_refused(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/threads/thr_a/items", json=item(thread_id="thr_b")), 422)
    assert_error(await client.put("/v1/threads/thr_a/items/msg_2", json=item("msg_1")), 422)
    assert_error(await client.put("/v1/threads/thr_b", json=THREAD), 422)
    await assert_unchanged(client)


async def test_query_parameters_are_validated(client: httpx.AsyncClient) -> None:
    for params in ({"limit": 0}, {"limit": 10_000}, {"order": "sideways"}, {"limit": "x"}):
        assert_error(await client.get("/v1/threads/thr_a/items", params=params), 422)


async def test_unknown_cursor_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/threads/thr_a/items", params={"after": "msg_gone"})
    assert_error(response, 404, "not_found")


async def test_missing_user_header_is_refused(store_url: str) -> None:
    async with httpx.AsyncClient(base_url=store_url) as c:
        assert_error(await c.get("/v1/threads"), 400, "missing_user")


async def test_body_over_limit_is_refused(client: httpx.AsyncClient) -> None:
    huge = item(content=[{"text": "x" * (5 * 1_048_576)}])
    assert_error(await client.put("/v1/threads/thr_a/items/msg_1", json=huge), 413)
    await assert_unchanged(client)


async def test_add_to_another_users_thread_is_not_found(
    client: httpx.AsyncClient, store_url: str
) -> None:
    async with httpx.AsyncClient(base_url=store_url, headers={"x-user-id": "intruder"}) as other:
        assert_error(await other.post("/v1/threads/thr_a/items", json=item("msg_9")), 404)
        assert_error(await other.get("/v1/threads/thr_a/items/msg_1"), 404)
    await assert_unchanged(client)


async def test_openapi_document_lists_every_route(store_url: str) -> None:
    async with httpx.AsyncClient(base_url=store_url) as c:
        doc = (await c.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/v1/threads/{thread_id}/items/{item_id}"]) == {"get", "put", "delete"}
    assert "ItemBody" in doc["components"]["schemas"]


async def test_health_readiness_and_metrics(store_url: str) -> None:
    async with httpx.AsyncClient(base_url=store_url) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/readyz")).status_code == 200
        metrics = (await c.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics


async def test_request_id_is_echoed(store_url: str) -> None:
    async with httpx.AsyncClient(base_url=store_url) as c:
        response = await c.get("/healthz", headers={"x-request-id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"


def test_service_token_is_required_when_configured(database_url: str) -> None:
    settings = StoreSettings(
        database_url=database_url, internal_token="s3cret", log_level="warning"
    )
    with serve(create_app(settings)) as url:
        headers = {"x-user-id": "u"}
        assert_error(httpx.get(f"{url}/v1/threads", headers=headers), 401, "unauthorized")
        wrong = {**headers, "x-service-token": "guess"}
        assert_error(httpx.get(f"{url}/v1/threads", headers=wrong), 401)
        right = {**headers, "x-service-token": "s3cret"}
        assert httpx.get(f"{url}/v1/threads", headers=right).status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200


async def test_concurrent_migrations_apply_each_version_once(pg_admin_url: str) -> None:
    with fresh_database(pg_admin_url) as url:
        conns = [await asyncpg.connect(url) for _ in range(5)]
        try:
            applied = await asyncio.gather(*(migrate(c) for c in conns))
            versions = [m.version for m in available_migrations()]
            assert sorted(v for run in applied for v in run) == versions
            rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in rows] == versions
        finally:
            for c in conns:
                await c.close()


async def test_dead_pooled_connections_are_retried_once(database_url: str) -> None:
    db = await Database.open(database_url, min_size=3, max_size=3)
    try:
        await db.ping()
        # What a PostgreSQL restart does to a pool: every server-side session ends.
        killer = await asyncpg.connect(database_url)
        try:
            killed = await killer.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND application_name = ''"""
            )
        finally:
            await killer.close()
        assert killed >= 1
        results = await asyncio.gather(
            *(db.run(lambda c: c.fetchval("SELECT 42")) for _ in range(3))
        )
        assert results == [42, 42, 42]
    finally:
        await db.close()


def test_embedded_postgres_serves_the_store(tmp_path: Any) -> None:
    import os

    os.chmod(tmp_path, 0o755)
    settings = StoreSettings(database_url=None, data_dir=tmp_path, log_level="warning")
    with serve(create_app(settings), startup_timeout=120) as url:
        headers = {"x-user-id": "u"}
        assert httpx.put(f"{url}/v1/threads/thr_a", json=THREAD, headers=headers).status_code == 204
        assert (
            httpx.get(f"{url}/v1/threads/thr_a", headers=headers).json()["thread"]["id"] == "thr_a"
        )
    assert (tmp_path / "postgres" / "PG_VERSION").exists()


async def test_attachment_bytes_round_trip_for_their_owner_only(
    client: httpx.AsyncClient, store_url: str
) -> None:
    meta = {
        "attachment": {"type": "file", "id": "atc_b", "name": "n.txt", "mime_type": "text/plain"}
    }
    payload = bytes(range(256)) * 100
    headers = {"content-type": "text/plain"}
    # bytes need their metadata first
    missing = await client.put("/v1/attachments/atc_b/content", content=payload, headers=headers)
    assert_error(missing, 404)
    assert (await client.put("/v1/attachments/atc_b", json=meta)).status_code == 204
    saved = await client.put("/v1/attachments/atc_b/content", content=payload, headers=headers)
    assert saved.status_code == 204
    got = await client.get("/v1/attachments/atc_b/content")
    assert got.content == payload
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    async with httpx.AsyncClient(base_url=store_url, headers={"x-user-id": "other"}) as other:
        assert_error(await other.get("/v1/attachments/atc_b/content"), 404)
        sneaky = await other.put("/v1/attachments/atc_b/content", content=b"x", headers=headers)
        assert_error(sneaky, 404)
    assert (await client.get("/v1/attachments/atc_b/content")).content == payload
    # deleting the metadata deletes the bytes
    assert (await client.delete("/v1/attachments/atc_b")).status_code == 204
    assert_error(await client.get("/v1/attachments/atc_b/content"), 404)


async def test_attachment_bytes_have_their_own_size_limit(client: httpx.AsyncClient) -> None:
    meta = {"attachment": {"type": "file", "id": "atc_c", "name": "c.bin", "mime_type": "x/y"}}
    assert (await client.put("/v1/attachments/atc_c", json=meta)).status_code == 204
    # larger than the JSON body limit (4 MiB) but within the attachment limit (20 MiB)
    big = b"\0" * (6 * 1_048_576)
    assert (await client.put("/v1/attachments/atc_c/content", content=big)).status_code == 204
    too_big = b"\0" * (21 * 1_048_576)
    assert_error(await client.put("/v1/attachments/atc_c/content", content=too_big), 413)
    assert len((await client.get("/v1/attachments/atc_c/content")).content) == len(big)
