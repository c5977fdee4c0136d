"""`GET /embed.js`: the one script a site adds to embed the assistant.

It is a one-line module importing the element from `/v/<version>/static/embed/`, so that
the element's own imports (the web client's modules and styles) resolve on this gateway,
whatever page loads it. `<version>` is a hash of the web client's files: under it they are
served `immutable`, so a site's reader fetches them once per release, and `/embed.js` alone
(`no-cache`) is asked again on each page. Another release's version (a page that loaded
`/embed.js` from a pod of the previous release, during a rolling deploy) is redirected,
not cached, to this release's: the element's relative imports then resolve there too, so
the page gets one release's modules rather than a 404.
Browsers fetch module scripts with CORS: a site's origin must be listed in
`GATEWAY_CORS_ORIGINS` to load it, as to call the API.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shared.errors import ApiError

STATIC = Path(__file__).parent / "static"
"""The web client's files (`/static/`, the bundled reader page's, revalidated by ETag)."""
IMMUTABLE = "public, max-age=31536000, immutable"


def static_version(directory: Path) -> str:
    """A hash of every file under `directory`, names and bytes: it changes with any of them."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


VERSION = static_version(STATIC)
VERSIONED = f"/v/{VERSION}/static"
"""Where this release's web client files are served `immutable`."""


class ImmutableFiles(StaticFiles):
    """Static files whose URL names their version: cached for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = IMMUTABLE
        return response


ENTRY = f'import ".{VERSIONED}/embed/element.js";\n'
RELEASE = re.compile(r"[0-9a-f]{16}")
"""What `static_version` names a release with."""


async def embed_script(request: Request) -> Response:
    return Response(
        ENTRY,
        media_type="text/javascript",
        headers={"cache-control": "no-cache"},  # the entry moves with each release
    )


async def other_release(request: Request) -> Response:
    """A file under another release's version: this release's copy, by a redirect."""
    if not RELEASE.fullmatch(request.path_params["version"]):
        raise ApiError(404, "No such release of the web client.")
    return RedirectResponse(
        f"{VERSIONED}/{request.path_params['path']}",
        status_code=307,
        headers={"cache-control": "no-store"},  # the next release moves it again
    )


routes: list[BaseRoute] = [
    Route("/embed.js", embed_script, methods=["GET"], include_in_schema=False),
    Mount(VERSIONED, ImmutableFiles(directory=STATIC), name="versioned-static"),
    Route(
        "/v/{version}/static/{path:path}", other_release, methods=["GET"], include_in_schema=False
    ),
]
