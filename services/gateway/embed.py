"""`GET /embed.js`: the one script a site adds to embed the assistant.

It is a one-line module importing the element from `/static/embed/`, so that the element's
own imports (the web client's modules and styles) resolve on this gateway, whatever page
loads it. Browsers fetch module scripts with CORS: a site's origin must be listed in
`GATEWAY_CORS_ORIGINS` to load it, as to call the API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

ENTRY = 'import "./static/embed/element.js";\n'


async def embed_script(request: Request) -> Response:
    return Response(
        ENTRY,
        media_type="text/javascript",
        headers={"cache-control": "no-cache"},  # the element's modules revalidate by ETag
    )


routes: list[BaseRoute] = [
    Route("/embed.js", embed_script, methods=["GET"], include_in_schema=False)
]
