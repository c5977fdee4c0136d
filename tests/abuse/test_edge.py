"""The edge as a hostile client sees it: the public `/readyz` names what is not ready but
never where it lives, and an internal service without INTERNAL_TOKEN will not take
X-User-ID from another machine (it does not start beyond loopback, and a call that
reaches it on another address is refused)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.assertions import AssertionSigner, new_key_pair, user_headers
from tests.abuse.refusals import QUICK_S, assert_refused, timed
from tests.fault.conftest import StackFactory
from tests.support.servers import free_port
from tests.support.stack import REPO, Stack
from tests.support.waiting import until

pytestmark = pytest.mark.abuse

START_S = 60.0
"""A service that must not start has exited well within this (imports included)."""
THREAD = {"thread": {"id": "thr_edge", "created_at": "2026-01-01T00:00:00Z"}}


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    with start_stack() as stack:
        yield stack


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = httpx.get(url, timeout=10)
    return answer, time.monotonic() - started


def assert_not_ready(answer: httpx.Response, took: float, check: str, port: int) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unavailable" and error["request_id"]
    assert error["message"] == f"Not ready: {check}"
    assert error["details"] == [{"check": check, "problem": "unavailable"}]
    assert "127.0.0.1" not in answer.text and str(port) not in answer.text
    assert took < QUICK_S, f"/readyz took {took:.2f}s"


def test_readyz_names_the_dependency_not_its_address(stack: Stack) -> None:
    for service, probed in (("chat", "gateway"), ("store", "chat")):
        port = stack.services[service].port
        stack.kill(service)
        try:
            answer, took = timed_get(f"{stack.url(probed)}/readyz")
            assert_not_ready(answer, took, service, port)
            log = (stack.logs / f"{probed}.log").read_text()
            assert f"not ready: {{'{service}'" in log  # the detail is the operator's
        finally:
            stack.restart(service)
    assert httpx.get(f"{stack.gateway}/readyz", timeout=10).status_code == 200


# -- the service token ---------------------------------------------------------------


def env_without_token(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INTERNAL_TOKEN"}
    return env | {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"} | extra


@pytest.mark.parametrize("service", ["store", "chat", "retrieval"])
def test_no_token_beyond_loopback_does_not_start(service: str, tmp_path: Path) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", f"services.{service}", "--host", "0.0.0.0", "--port", "1"],
        env=env_without_token(),
        cwd=tmp_path,  # no .env file
        capture_output=True,
        text=True,
        timeout=START_S,
    )
    took = time.monotonic() - started
    assert run.returncode != 0
    assert "INTERNAL_TOKEN is not set" in run.stderr
    assert f"{service.upper()}_HOST" in run.stderr and "0.0.0.0" in run.stderr
    assert took < START_S


def outward_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") else address


def start_store(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The store as its image runs it (`uvicorn ... --host=0.0.0.0`), with no token."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "services.store.app:create_app", "--factory"),
                *("--host=0.0.0.0", f"--port={port}", "--no-access-log"),
            ],
            env=env_without_token(STORE_DATABASE_URL=database_url, STORE_LOG_LEVEL="warning"),
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def store_on_all_interfaces(database_url: str, tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    process = start_store(database_url, port, tmp_path / "store.log")
    try:

        async def ready() -> bool:
            assert process.poll() is None, (tmp_path / "store.log").read_text()
            try:
                async with httpx.AsyncClient() as client:
                    answer = await client.get(f"http://127.0.0.1:{port}/readyz")
                return answer.status_code == 200
            except httpx.TransportError:
                return False

        await until(ready, within=START_S, what="the store")
        yield port
    finally:
        process.terminate()
        process.wait(30)


async def test_no_token_takes_no_user_from_another_address(store_on_all_interfaces: int) -> None:
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    port = store_on_all_interfaces
    user = {"x-user-id": f"edge-{uuid.uuid4().hex}"}
    outside = httpx.AsyncClient(base_url=f"http://{address}:{port}", headers=user, timeout=10)
    inside = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=user, timeout=10)
    async with outside, inside:
        for method, path in (("PUT", "/v1/threads/thr_edge"), ("GET", "/v1/threads")):
            started = time.monotonic()
            body = THREAD if method == "PUT" else None
            answer = await outside.request(method, path, json=body)
            took = time.monotonic() - started
            assert answer.status_code == 401, answer.text
            error = answer.json()["error"]
            assert error["code"] == "unauthorized" and error["request_id"]
            assert took < QUICK_S, f"the refusal took {took:.2f}s"
        assert (await outside.get("/healthz")).status_code == 200  # probes stay open
        # Nothing was written; on loopback the embedded default still needs no token.
        listed = await inside.get("/v1/threads")
        assert listed.status_code == 200 and listed.json()["data"] == []


# -- the user assertion ----------------------------------------------------------------


async def test_the_service_token_alone_acts_for_nobody(stack: Stack) -> None:
    victim = f"victim-{uuid.uuid4().hex}"
    mallory = f"mallory-{uuid.uuid4().hex}"
    forged = AssertionSigner(new_key_pair()[0], ttl_s=600)  # not the gateway's key
    attempts = {
        "no assertion": {"x-service-token": stack.token, "x-user-id": victim},
        "another key's": {"x-service-token": stack.token, **user_headers(victim, forged)},
        "another user's": {
            **stack.acting_for(mallory),
            "x-user-id": victim,
        },
        "garbage": {
            "x-service-token": stack.token,
            "x-user-id": victim,
            "x-user-assertion": "x" * 5000,
        },
    }
    listed = {"type": "threads.list", "params": {}}
    store, chat = stack.url("store"), stack.url("chat")
    async with httpx.AsyncClient(timeout=10) as client:
        for what, headers in attempts.items():
            for call in (
                client.put(f"{store}/v1/threads/thr_edge", json=THREAD, headers=headers),
                client.post(f"{chat}/chatkit", json=listed, headers=headers),
            ):
                answer, took = await timed(call)
                assert answer.status_code == 401, (what, answer.text)
                assert_refused(answer.status_code, answer.json(), 401, "unauthorized", took)
        # Nothing was written for the victim; with the gateway's assertion the call is served.
        mine = await client.get(f"{store}/v1/threads", headers=stack.acting_for(victim))
        assert mine.status_code == 200 and mine.json()["data"] == []
        answer = await client.post(f"{chat}/chatkit", json=listed, headers=stack.acting_for(victim))
        assert answer.status_code == 200, answer.text
