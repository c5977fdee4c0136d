"""Limits a client cannot step around: the client address is the peer's unless a trusted
proxy names it (a forged `X-Forwarded-For` changes nothing), new anonymous users are rate
limited per address, streams are capped per user, per address and in all (in-process and
through Redis), attachment downloads count against the rate limits, and the dev cookie is
`__Host-` and `Secure` behind https."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.integration.gateway.conftest import REDIS_URL
from tests.integration.gateway.upstream import Control

LIST = {"type": "threads.list", "params": {}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def forged() -> str:
    return f"203.0.113.{secrets.randbelow(250) + 1}"


def assert_429(response: httpx.Response, says: str = "") -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and says in error["message"]


async def test_a_forged_forwarded_for_changes_nothing(make_gateway: Any) -> None:
    with make_gateway(ip_burst=4, ip_rate_per_s=0.01) as url:
        statuses = []
        for _ in range(6):  # a new user each time, each claiming another address
            async with httpx.AsyncClient(base_url=url) as c:
                headers = {"x-forwarded-for": forged(), "x-forwarded-proto": "https"}
                response = await c.post("/chatkit", json=LIST, headers=headers)
                statuses.append(response.status_code)
                assert "secure" not in response.headers.get("set-cookie", "").lower()
        assert statuses == [200] * 4 + [429] * 2


async def test_a_trusted_proxy_names_the_client(make_gateway: Any) -> None:
    settings = {"ip_burst": 2, "ip_rate_per_s": 0.01, "forwarded_allow_ips": ["127.0.0.1"]}
    with make_gateway(**settings) as url:

        async def via_proxy(client_address: str) -> int:
            # The client forged the first entry; the proxy appended the address it saw.
            headers = {"x-forwarded-for": f"{forged()}, {client_address}"}
            async with httpx.AsyncClient(base_url=url) as c:
                return (await c.post("/chatkit", json=LIST, headers=headers)).status_code

        assert [await via_proxy("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert await via_proxy("198.51.100.2") == 200


def test_a_wildcard_or_garbage_proxy_list_is_refused() -> None:
    from services.gateway.settings import GatewaySettings

    for value in (["*"], ["proxy.example.com"]):
        with pytest.raises(ValueError, match="GATEWAY_FORWARDED_ALLOW_IPS"):
            GatewaySettings(_env_file=None, forwarded_allow_ips=value)


async def test_new_anonymous_users_are_limited_per_address(make_gateway: Any) -> None:
    settings = {
        "anon_mint_burst": 3,
        "anon_mint_rate_per_s": 0.01,
        "forwarded_allow_ips": ["127.0.0.1"],
    }
    with make_gateway(**settings) as url:
        kept = httpx.AsyncClient(base_url=url, headers={"x-forwarded-for": "198.51.100.7"})
        async with kept:
            assert (await kept.get("/")).status_code == 200 and kept.cookies
            for n in range(3):
                async with httpx.AsyncClient(base_url=url) as c:
                    headers = {"x-forwarded-for": "198.51.100.7"}
                    response = await c.post("/chatkit", json=LIST, headers=headers)
                    if n < 2:
                        assert response.status_code == 200 and "set-cookie" in response.headers
                    else:
                        assert_429(response, "new visitors")
                        assert "set-cookie" not in response.headers
            # A user who has a cookie is not affected, nor is another address.
            assert (await kept.post("/chatkit", json=LIST)).status_code == 200
        async with httpx.AsyncClient(base_url=url) as other:
            headers = {"x-forwarded-for": "198.51.100.8"}
            assert (await other.get("/", headers=headers)).status_code == 200


class Streams:
    """Streams held open, from users at addresses named by a trusted proxy."""

    def __init__(self, url: str, exits: AsyncExitStack) -> None:
        self.url, self.exits = url, exits
        self.users: dict[str, httpx.AsyncClient] = {}

    async def user(self, name: str, address: str) -> httpx.AsyncClient:
        if name not in self.users:
            client = httpx.AsyncClient(base_url=self.url, headers={"x-forwarded-for": address})
            self.users[name] = await self.exits.enter_async_context(client)
            assert (await client.get("/")).status_code == 200
        return self.users[name]

    async def open(self, name: str, address: str) -> httpx.Response:
        """A stream of `name`'s, open (200) or refused (read whole)."""
        client = await self.user(name, address)
        request = client.build_request("POST", "/assistant/chatkit", json={"query": "q"})
        response = await client.send(request, stream=True)
        if response.status_code == 200:
            self.exits.push_async_callback(response.aclose)
        else:
            await response.aread()
        return response


@pytest.fixture(params=["in-process", "redis"])
async def capped(
    request: pytest.FixtureRequest, make_gateway: Any, control: Control
) -> AsyncIterator[Streams]:
    control.deltas, control.interval_s = 400, 0.05  # 20 s: open for the whole test
    settings: dict[str, Any] = {
        "forwarded_allow_ips": ["127.0.0.1"],
        "max_streams_per_user": 2,
        "max_streams_per_address": 3,
        "max_streams_total": 4,
    }
    if request.param == "redis":
        settings["redis_url"] = REDIS_URL
    with make_gateway(**settings) as url:
        async with AsyncExitStack() as exits:
            yield Streams(url, exits)


async def test_streams_are_capped_per_user_per_address_and_in_all(capped: Streams) -> None:
    a, b, c = "198.51.100.10", "198.51.100.11", "198.51.100.12"
    for name, address in (("ann", a), ("ann", a), ("bob", a), ("cid", b)):
        assert (await capped.open(name, address)).status_code == 200
    assert_429(await capped.open("ann", a), "At most 2 answers")  # ann's own two
    assert_429(await capped.open("bob", a), "from one address")  # a has three
    assert_429(await capped.open("dee", c), "as many questions as it can")  # four in all
    # Refused streams hold nothing: the caps are where they were.
    assert_429(await capped.open("cid", b), "as many questions as it can")


async def test_attachment_downloads_count_against_the_limits(make_gateway: Any) -> None:
    with make_gateway(user_burst=4, user_rate_per_s=0.01) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            uploaded = await c.post("/attachments", files={"file": ("p.png", PNG, "image/png")})
            assert uploaded.status_code == 200, uploaded.text
            content = f"/attachments/{uploaded.json()['id']}/content"
            # The upload took one of the user's four; three downloads take the rest.
            assert [(await c.get(content)).status_code for _ in range(3)] == [200] * 3
            assert_429(await c.get(content))


async def test_the_dev_cookie_is_host_bound_and_secure_behind_https(make_gateway: Any) -> None:
    with make_gateway(public_url="https://chat.example.com") as url:
        async with httpx.AsyncClient(base_url=url) as c:
            first = await c.get("/")
            cookie = first.headers["set-cookie"]
            assert cookie.startswith("__Host-chatkit_uid=")
            attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
            assert "secure" in attributes and "path=/" in attributes
            assert not any(a.startswith("domain=") for a in attributes)
            value = cookie.split(";")[0]
            # Sent back (a browser sends it over https only), it is the same user.
            again = await c.get("/", headers={"cookie": value})
            assert "set-cookie" not in again.headers
            # The unprefixed name is not read: a cookie another site could set is ignored.
            plain = value.replace("__Host-", "", 1)
            assert "set-cookie" in (await c.get("/", headers={"cookie": plain})).headers


async def test_book_reads_count_against_the_address_limit(make_gateway: Any) -> None:
    with make_gateway(ip_burst=3, ip_rate_per_s=0.01) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            # Each read costs a call to retrieval: after the address's burst, 429 without one.
            statuses = [(await c.get("/api/book")).status_code for _ in range(3)]
            assert 429 not in statuses
            assert_429(await c.get("/api/book"))
            assert_429(await c.get("/api/book/01-getting-started/01-what-it-is"))
