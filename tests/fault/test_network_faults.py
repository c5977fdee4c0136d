"""Network faults between the chat side and the store: slow links and resets are
reported as retryable, never hang, and leave the data intact."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest
from chatkit.types import ThreadMetadata

from services.chat.store_client import HttpStore
from shared.http import ServiceHttp, UpstreamUnavailable
from tests.support.tcp_proxy import tcp_proxy

pytestmark = pytest.mark.fault


def test_slow_and_reset_links_surface_as_store_unavailable(store_url: str) -> None:
    port = urlparse(store_url).port
    assert port is not None
    with tcp_proxy(port) as proxy:

        async def scenario() -> None:
            ctx = {"user_id": f"u_{uuid.uuid4().hex[:8]}"}
            thread = ThreadMetadata(id="thr_net", created_at=datetime.now(UTC))
            async with ServiceHttp(proxy.url, service="store", token=None, timeout_s=0.5) as client:
                store = HttpStore(client)
                await store.save_thread(thread, context=ctx)

                proxy.latency_s = 1.0
                started = asyncio.get_running_loop().time()
                with pytest.raises(UpstreamUnavailable):
                    await store.load_thread(thread.id, context=ctx)
                assert asyncio.get_running_loop().time() - started < 2.0

                proxy.latency_s = 0.3
                pending = asyncio.create_task(store.load_thread(thread.id, context=ctx))
                await asyncio.sleep(0.1)
                proxy.reset()
                with pytest.raises(UpstreamUnavailable):
                    await pending

                proxy.latency_s = 0.0
                proxy.refuse = True
                with pytest.raises(UpstreamUnavailable):
                    await store.load_thread(thread.id, context=ctx)

                proxy.refuse = False
                assert await store.load_thread(thread.id, context=ctx) == thread

        asyncio.run(scenario())
