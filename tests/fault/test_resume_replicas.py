"""Resumable answers shared by two chat replicas through Redis: an answer run by one
replica is resumed, and stopped, through the other (each behind its own gateway); the
replica running it counts the other's reader in its grace period; a reader elsewhere hears
of a replica that died mid-answer instead of waiting forever; every key expires."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser
from tests.fault.resumable import (
    CANCEL_NOTE,
    Events,
    ask_until,
    check_once_in_order,
    events_of,
    resume,
    stop_through,
    stored_answer,
)
from tests.support.processes import ServiceProcess, start_service
from tests.support.redis_server import RedisServer
from tests.support.stack import Stack
from tests.support.waiting import until

pytestmark = pytest.mark.fault

GRACE_S = 2.0
LEASE_S = 2.0
KEEP_S = 60.0
TOKEN_DELAY_MS = 100


@dataclass
class Replicas:
    """The stack (gateway → chat) and a second chat replica behind a second gateway."""

    stack: Stack
    redis: RedisServer
    other_chat: ServiceProcess
    other_gateway: ServiceProcess

    @property
    def prefix(self) -> str:
        return self.stack.env["chat"]["CHAT_REDIS_PREFIX"]


@pytest.fixture(scope="module")
def replicas(
    start_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    redis = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    redis.start()
    env = {
        "chat": {
            "CHAT_RESUME_GRACE_S": str(GRACE_S),
            "CHAT_RESUME_LEASE_S": str(LEASE_S),
            "CHAT_RESUME_KEEP_S": str(KEEP_S),
        }
    }
    try:
        with start_stack(
            token_delay_ms=TOKEN_DELAY_MS, redis_url=redis.url, extra_env=env
        ) as stack:
            other_chat = start_service("chat", stack.env["chat"])
            gateway_env = stack.env["gateway"] | {"GATEWAY_CHAT_URL": other_chat.url}
            other_gateway = start_service("gateway", gateway_env)
            try:
                yield Replicas(stack, redis, other_chat, other_gateway)
            finally:
                other_gateway.stop()
                other_chat.stop()
    finally:
        redis.stop()


def _deltas(seen: Events) -> int:
    return sum(1 for e in seen.events if e.get("update", {}).get("type", "").endswith("text_delta"))


async def test_an_answer_run_by_one_replica_resumes_through_the_other(replicas: Replicas) -> None:
    stack = replicas.stack
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        thread_id = await ask_until(user.http, stack.gateway, seen, deltas=3)
        cut_at = _deltas(seen)
        # Through the other gateway, whose chat replica does not run this answer.
        assert await resume(user.http, replicas.other_gateway.url, thread_id, seen) == 200
        check_once_in_order(seen)
        assert seen.events[-1]["type"] != "error", seen.events[-1]
        whole = seen.done_text()
        assert whole and seen.text() == whole  # every delta once
        # The rest took longer than the grace period (each token waits TOKEN_DELAY_MS): the
        # running replica counted the reader on the other replica and ran on.
        assert (_deltas(seen) - cut_at) * TOKEN_DELAY_MS / 1000 > GRACE_S
        items = await stored_answer(stack, user, thread_id)
        saved = [i for i in items if i["type"] == "assistant_message"]
        assert "".join(p["text"] for i in saved for p in i["content"]) == whole
        assert not any(CANCEL_NOTE in str(i.get("content")) for i in items)
        # Its keys in Redis: the events and the run expire within KEEP_S of the end.
        client = replicas.redis.client()
        run_id = seen.ids[0].partition(".")[0]
        run_key = f"{replicas.prefix}run:{run_id}"
        assert client.xlen(f"{run_key}:events") == len(seen.ids) + 1  # the frames, the end
        for key in (run_key, f"{run_key}:events", f"{replicas.prefix}thread:{thread_id}"):
            assert 0 < client.pttl(key) <= KEEP_S * 1000, key
        # Ended: without an event id there is nothing to resume, on either replica.
        for gateway in (stack.gateway, replicas.other_gateway.url):
            again = await user.http.get(f"{gateway}/chatkit/streams/{thread_id}")
            assert again.status_code == 204


async def test_a_stop_through_the_other_replica_stops_the_answer(replicas: Replicas) -> None:
    async with GatewayUser(replicas.stack.gateway) as user:
        await stop_through(replicas.stack, user, replicas.other_gateway.url)


async def test_another_users_answer_is_not_found_on_the_other_replica(replicas: Replicas) -> None:
    stack = replicas.stack
    async with GatewayUser(stack.gateway) as owner, GatewayUser(stack.gateway) as other:
        seen = Events()
        thread_id = await ask_until(owner.http, stack.gateway, seen, deltas=1)
        chat = replicas.other_chat.url
        headers = {**stack.acting_for(other.user_id), "last-event-id": seen.ids[-1]}
        direct = await other.http.get(f"{chat}/chatkit/streams/{thread_id}", headers=headers)
        assert direct.status_code == 204
        stopped = await other.http.post(f"{chat}/chatkit/streams/{thread_id}/stop", headers=headers)
        assert stopped.json() == {"stopped": False}
        assert await resume(owner.http, replicas.other_gateway.url, thread_id, seen) == 200
        check_once_in_order(seen)
        assert seen.done_text()


async def test_a_reader_elsewhere_hears_when_the_running_replica_dies(replicas: Replicas) -> None:
    stack = replicas.stack
    async with GatewayUser(stack.gateway) as user:
        seen = Events()
        thread_id = await ask_until(user.http, stack.gateway, seen, deltas=2)
        other = replicas.other_gateway.url
        headers = {"last-event-id": seen.ids[-1]}
        try:
            async with user.http.stream(
                "GET", f"{other}/chatkit/streams/{thread_id}", headers=headers
            ) as response:
                assert response.status_code == 200
                async for event_id, event in events_of(response):
                    seen.ids.append(event_id)
                    seen.events.append(event)
                    running = stack.services["chat"].process.poll() is None
                    if running and event.get("update", {}).get("type", "").endswith("delta"):
                        stack.kill("chat")  # the replica running the answer
            # Its lease lapsed: the stream ended with a retryable error, not silence.
            assert seen.events[-1]["type"] == "error", seen.events[-1]
            assert seen.events[-1]["allow_retry"] is True
        finally:
            stack.restart("chat")


async def test_a_replica_that_cannot_reach_redis_still_answers_its_own_readers(
    replicas: Replicas,
) -> None:
    stack = replicas.stack
    replicas.redis.stop()
    try:
        async with GatewayUser(stack.gateway) as user:
            seen = Events()
            thread_id = await ask_until(user.http, stack.gateway, seen, deltas=2)
            assert await resume(user.http, stack.gateway, thread_id, seen) == 200
            check_once_in_order(seen)
            assert seen.done_text() and seen.text() == seen.done_text()
            # Through the other replica there is nothing to resume: it says so (204).
            gone = await user.http.get(f"{replicas.other_gateway.url}/chatkit/streams/{thread_id}")
            assert gone.status_code == 204
    finally:
        replicas.redis.start()

    async def shared_again() -> bool:
        async with GatewayUser(stack.gateway) as user:
            seen = Events()
            thread_id = await ask_until(user.http, stack.gateway, seen, deltas=1)
            return await resume(user.http, replicas.other_gateway.url, thread_id, seen) == 200

    assert await until(shared_again, what="answers shared again once Redis is back")
