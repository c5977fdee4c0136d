"""Streaming done right: incremental delivery, disconnects, heartbeats, stalled readers."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import time
from typing import Any

import httpx

from tests.integration.gateway.conftest import REDIS_URL
from tests.integration.gateway.sse import iter_events, read_all
from tests.integration.gateway.upstream import Control


async def _metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def _until(predicate: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_events_arrive_while_the_model_is_still_producing(
    client: httpx.AsyncClient, control: Control
) -> None:
    control.deltas, control.interval_s = 6, 0.25
    started = time.monotonic()
    async with client.stream("POST", "/assistant/chatkit", json={"query": "slow"}) as response:
        received = await read_all(response)
    deltas = [
        t
        for e, t in zip(received.events, received.arrived, strict=True)
        if e["type"] == "thread.item.updated"
        and e["update"]["type"] == "assistant_message.content_part.text_delta"
    ]
    assert len(deltas) == 6
    # The first delta is in hand about one interval in, long before the answer ends,
    # and each later one about one interval after the previous.
    assert deltas[0] - started < 0.6
    assert deltas[-1] - started > 1.4
    gaps = [b - a for a, b in itertools.pairwise(deltas)]
    assert all(0.15 < g < 0.45 for g in gaps), gaps


async def test_disconnect_mid_stream_cancels_the_run_at_once(
    client: httpx.AsyncClient, control: Control
) -> None:
    control.deltas, control.interval_s = 400, 0.05
    async with client.stream("POST", "/assistant/chatkit", json={"query": "long"}) as response:
        seen = 0
        async for kind, event in iter_events(response):
            if kind == "event" and event.get("type") == "thread.item.updated":
                seen += 1
            if seen == 4:
                break
        gone_at = time.monotonic()
    await _until(lambda: control.cancelled_at is not None)
    assert control.cancelled_at is not None
    assert control.cancelled_at - gone_at < 0.1
    await _until(lambda: control.saved_partial is not None)
    assert (control.saved_partial or "").startswith("word0 word1")
    assert control.deltas_sent < 20
    await _until_metric_zero(client)


async def _until_metric_zero(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 5
    while await _metric(client, "gateway_open_streams") != 0:
        assert time.monotonic() < deadline, "a relayed stream was left open"
        await asyncio.sleep(0.05)


async def test_disconnect_before_the_first_byte_closes_the_upstream_call(
    client: httpx.AsyncClient, control: Control
) -> None:
    control.header_delay_s = 10.0
    request = asyncio.create_task(client.post("/assistant/chatkit", json={"query": "q"}))
    await _until(lambda: len(control.requests) == 1)
    request.cancel()
    gone_at = time.monotonic()
    await _until(lambda: control.gone_before_headers_at is not None)
    assert (control.gone_before_headers_at or 0) - gone_at < 0.1


async def test_heartbeat_on_a_quiet_stream(client: httpx.AsyncClient, control: Control) -> None:
    control.deltas, control.interval_s = 2, 1.0  # heartbeat is 0.3 s in the test gateway
    async with client.stream("POST", "/assistant/chatkit", json={"query": "quiet"}) as response:
        received = await read_all(response)
    assert received.text() == "word0 word1 "
    assert len(received.comments) >= 4
    assert set(received.comments) == {"keep-alive"}


async def test_a_stalled_reader_is_cut_off(make_gateway: Any) -> None:
    """A client that stops reading ends the relay after the send timeout."""
    with make_gateway(send_timeout_s=0.5, heartbeat_s=0.2) as url:
        port = int(url.rsplit(":", 1)[1])
        body = (
            b'{"type":"threads.create","metadata":{"bench":{"events":2000000}},'
            b'"params":{"input":{"content":[],"attachments":[],"inference_options":{}}}}'
        )
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            b"POST /chatkit HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        async with httpx.AsyncClient(base_url=url) as c:
            try:
                name = 'gateway_stream_ends_total{reason="stalled_reader"}'
                deadline = time.monotonic() + 10
                while await _metric(c, name) < 1:
                    assert time.monotonic() < deadline, "the stalled stream was not ended"
                    await asyncio.sleep(0.1)
                await _until_metric_zero(c)
            finally:
                sock.close()


async def test_a_stream_longer_than_its_lease_keeps_its_slot(
    make_gateway: Any, control: Control
) -> None:
    """The relay renews its slot's Redis lease while it runs, quiet or not."""
    control.deltas, control.interval_s = 5, 0.5  # 2.5 s: more than twice the lease
    settings = {"redis_url": REDIS_URL, "stream_lease_s": 1.0, "max_streams_per_user": 1}
    with make_gateway(**settings) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            await c.get("/")
            async with c.stream("POST", "/assistant/chatkit", json={"query": "q"}) as first:
                assert first.status_code == 200
                await asyncio.sleep(2.0)
                second = await c.post("/assistant/chatkit", json={"query": "q"})
                assert second.status_code == 429, "the first stream's slot lapsed"
                await first.aread()


async def test_stream_cap_per_user(make_gateway: Any, control: Control) -> None:
    control.deltas, control.interval_s = 40, 0.05
    with make_gateway(max_streams_per_user=2) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            await c.get("/")
            streams = [
                await c.send(
                    c.build_request("POST", "/assistant/chatkit", json={"query": "q"}), stream=True
                )
                for _ in range(2)
            ]
            try:
                assert all(s.status_code == 200 for s in streams)
                third = await c.post("/assistant/chatkit", json={"query": "q"})
                assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limited"
                assert third.headers["retry-after"]
                # JSON requests are not streams and are not capped.
                listed = await c.post("/chatkit", json={"type": "threads.list", "params": {}})
                assert listed.status_code == 200
            finally:
                for s in streams:
                    await s.aclose()
            # Stopping a stream frees its slot at once.
            await asyncio.sleep(0.1)
            async with c.stream("POST", "/assistant/chatkit", json={"query": "q"}) as again:
                assert again.status_code == 200
