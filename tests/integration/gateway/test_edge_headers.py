"""The headers every gateway answer carries: the web client's Content-Security-Policy, no
MIME sniffing, no referrer to other sites; an attachment keeps its own stricter policy."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from services.gateway.settings import GatewaySettings

EDGE = {"referrer-policy": "same-origin", "x-content-type-options": "nosniff"}


def directives(answer: httpx.Response) -> dict[str, str]:
    (policy,) = answer.headers.get_list("content-security-policy")
    return dict(d.strip().partition(" ")[::2] for d in policy.split(";"))


class InlineScript(HTMLParser):
    """Finds what a policy without 'unsafe-inline' refuses: `<script>` without `src`,
    `on...` handler attributes, `javascript:` URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src"):
            self.found.append("<script> without src")
        self.found += [f"{tag} {name}" for name in named if name.startswith("on")]
        self.found += [f"{tag} {k}" for k, v in attrs if (v or "").startswith("javascript:")]


def assert_edge_headers(answer: httpx.Response) -> dict[str, str]:
    for name, value in EDGE.items():
        assert answer.headers.get_list(name) == [value], (answer.url, name)
    return directives(answer)


@pytest.mark.parametrize("path", ["/", "/book/01-getting-started/01-what-is-it"])
async def test_the_web_client_runs_under_its_policy(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
    policy = assert_edge_headers(answer)
    assert policy["default-src"] == "'self'"  # so scripts are the site's own, none inline
    assert "script-src" not in policy and "'unsafe-inline'" not in str(policy)
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert policy["trusted-types"] == "book"
    inline = InlineScript()
    inline.feed(answer.text)
    assert not inline.found, inline.found


@pytest.mark.parametrize(
    "path", ["/static/app.js", "/static/style.css", "/api/book", "/openapi.json"]
)
async def test_static_files_and_api_answers(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 200
    assert_edge_headers(answer)


async def test_errors_and_chat_answers(client: httpx.AsyncClient, gateway_url: str) -> None:
    missing = await client.get("/api/book/nope/nope")
    assert missing.status_code == 404
    assert_edge_headers(missing)
    listed = await client.post("/chatkit", json={"type": "threads.list", "params": {}})
    assert listed.status_code == 200
    assert_edge_headers(listed)
    async with httpx.AsyncClient(base_url=gateway_url) as stranger:  # no cookie yet
        assert_edge_headers(await stranger.post("/chatkit", content=b"{"))


async def test_an_attachment_keeps_its_sandbox(client: httpx.AsyncClient) -> None:
    text = b'{"html": "<img src=x onerror=alert(1)>"}'
    uploaded = await client.post("/attachments", files={"file": ("x.txt", text, "text/plain")})
    assert uploaded.status_code == 200, uploaded.text
    content = await client.get(f"/attachments/{uploaded.json()['id']}/content")
    assert content.status_code == 200 and content.content == text
    assert assert_edge_headers(content) == {"default-src": "'none'", "sandbox": ""}
    assert content.headers["content-disposition"] == "attachment"


async def test_frame_ancestors_are_configurable(make_gateway: Any) -> None:
    sources = ["https://portal.example.com", "'self'"]
    with make_gateway(frame_ancestors=sources) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            policy = directives(await c.get("/"))
    assert policy["frame-ancestors"] == "https://portal.example.com 'self'"


@pytest.mark.parametrize("bad", ["https://a.example; script-src *", "https://a.example,x", " "])
def test_frame_ancestors_cannot_widen_the_policy(bad: str) -> None:
    with pytest.raises(ValueError, match="GATEWAY_FRAME_ANCESTORS"):
        GatewaySettings(_env_file=None, frame_ancestors=[bad])
