"""The gateway's side of embedding: `/embed.js` and the modules it imports are served to a
listed site (CORS) without minting a visitor per file, every module of the element is a
file of the repo, and the dev cookie can be `SameSite=None; Secure` for another site."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from services.gateway.embed import IMMUTABLE, STATIC, VERSIONED, static_version
from services.gateway.settings import GatewaySettings

SITE = "https://docs.example"
IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']""", re.M
)


def _imports(path: str) -> set[str]:
    """Every module `path` (under /static) imports, transitively, as paths under /static."""
    seen: set[str] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        text = (STATIC / current).read_text("utf-8")
        for match in IMPORT.finditer(text):
            spec = match.group(1) or match.group(2)
            base = current.rsplit("/", 1)[0] if "/" in current else ""
            parts = [*base.split("/"), *spec.split("/")] if base else spec.split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part not in (".", ""):
                    resolved.append(part)
            todo.append("/".join(resolved))
    return seen


def test_every_module_of_the_embed_is_in_the_repo() -> None:
    modules = _imports("embed/element.js")
    assert {"chat.js", "api.js", "sse.js", "widgets.js", "markdown.js"} <= modules
    assert all((STATIC / m).is_file() for m in modules), modules


async def test_embed_script_is_served_to_a_listed_site(make_gateway: Any) -> None:
    with make_gateway(cors_origins=[SITE]) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            entry = await c.get("/embed.js", headers={"origin": SITE})
            assert entry.status_code == 200
            assert entry.headers["content-type"].startswith("text/javascript")
            assert entry.headers["access-control-allow-origin"] == SITE
            assert entry.headers["cache-control"] == "no-cache"  # the entry moves
            assert entry.text == f'import ".{VERSIONED}/embed/element.js";\n'
            for module in sorted(_imports("embed/element.js")):
                response = await c.get(f"{VERSIONED}/{module}", headers={"origin": SITE})
                assert response.status_code == 200, module
                assert response.content == (STATIC / module).read_bytes()
                assert response.headers["access-control-allow-origin"] == SITE
                # Under the release's version, cached for good.
                assert response.headers["cache-control"] == IMMUTABLE, module
                # Module fetches carry no cookie: they must not each make a new visitor.
                assert "set-cookie" not in response.headers, module
            # Another release's (a page from a pod of the last one): this release's copy.
            stale = await c.get(
                "/v/0123456789abcdef/static/embed/element.js", headers={"origin": SITE}
            )
            assert stale.status_code == 307
            assert stale.headers["location"] == f"{VERSIONED}/embed/element.js"
            assert stale.headers["cache-control"] == "no-store"
            assert stale.headers["access-control-allow-origin"] == SITE
            for junk in ("/v/not-a-release/static/embed/element.js", "/v/0123/static/x.js"):
                missing = await c.get(junk)
                assert missing.status_code == 404, junk
                assert missing.headers["content-type"].startswith("application/json")
            # The reader page's own /static/ revalidates as before (not immutable).
            page = await c.get("/static/chat.js")
            assert page.status_code == 200 and "immutable" not in page.headers.get(
                "cache-control", ""
            )
            other = await c.get("/embed.js", headers={"origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers


def test_the_version_changes_with_any_file(tmp_path: Any) -> None:
    (tmp_path / "embed").mkdir()
    (tmp_path / "a.js").write_text("a")
    (tmp_path / "embed" / "b.js").write_text("b")
    first = static_version(tmp_path)
    assert static_version(tmp_path) == first
    (tmp_path / "embed" / "b.js").write_text("b2")
    assert static_version(tmp_path) != first
    (tmp_path / "embed" / "b.js").write_text("b")
    (tmp_path / "c.css").write_text("")
    assert static_version(tmp_path) != first


async def test_cookie_for_another_site_is_samesite_none_and_secure(make_gateway: Any) -> None:
    with make_gateway(cors_origins=[SITE], cookie_samesite="none", cookie_secure=True) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            response = await c.get("/api/features", headers={"origin": SITE})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-chatkit_uid=")
    assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert "Partitioned" in cookie  # CHIPS: kept where third-party cookies are blocked


def test_samesite_none_needs_a_secure_cookie() -> None:
    with pytest.raises(ValueError, match="Secure"):
        GatewaySettings(_env_file=None, cookie_samesite="none")
    settings = GatewaySettings(
        _env_file=None, cookie_samesite="none", public_url="https://assistant.example"
    )
    assert settings.dev_cookie == ("__Host-chatkit_uid", True)
