"""A documentation build served as its own site (another origin than the gateway), with the
assistant embedded at serve time: the two lines a team adds (`<script type="module"
src=".../embed.js">` and `<book-assistant>`) go into every HTML page as it is sent, so the
build on disk stays the package's own.

The site also carries a stylesheet and a script of its own (`/host-test.css`,
`/host-test.js`) that try to reach into the panel and mark that the page's scripts still
run, a host script setting the element's `options` (`/embed-options.js`, from `options_js`),
and optionally a Content-Security-Policy header (`csp`). `embed=0` in the query serves a
page without the embed, for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

HOST_CSS = """/* The host site's own rules: they must not reach the embedded panel. */
button { color: rgb(255, 0, 0); }
.msg, .composer, #question, .launcher { display: none !important; }
"""
HOST_JS = """// The host site's own script: still runs, and its button still works, with the embed.
document.documentElement.dataset.hostScript = "ran";
addEventListener("DOMContentLoaded", () => {
  const button = document.createElement("button");
  button.id = "host-button";
  button.textContent = "Host button";
  button.dataset.clicks = "0";
  button.addEventListener("click", () => {
    button.dataset.clicks = String(Number(button.dataset.clicks) + 1);
  });
  document.body.prepend(button);
});
"""
MAX_PAGE_BYTES = 8 * 1_048_576


@dataclass
class HostSite:
    """What the site serves; tests change it between page loads."""

    root: Path
    gateway: str
    assets: Path | None = None
    """Where files missing from `root` are taken from (the package's whole build: its
    `_static/` styles and scripts)."""
    element: str = "<book-assistant></book-assistant>"
    options_js: str = ""
    csp: str | None = None
    served: list[str] = field(default_factory=list)

    def strict_csp(self) -> str:
        """A strict policy that allows the gateway's origin and nothing inline."""
        gw = self.gateway
        return "; ".join(
            [
                "default-src 'self'",
                f"script-src 'self' {gw}",
                f"style-src 'self' {gw}",
                f"connect-src 'self' {gw}",
                f"img-src 'self' data: {gw}",
                "object-src 'none'",
                "base-uri 'none'",
                "require-trusted-types-for 'script'",
            ]
        )

    def page(self, html: str, embed: bool) -> str:
        head = '<link rel="stylesheet" href="/host-test.css"><script src="/host-test.js"></script>'
        html = html.replace("</head>", f"{head}</head>", 1)
        if embed:
            tail = (
                f'{self.element}<script src="/embed-options.js"></script>'
                f'<script type="module" src="{self.gateway}/embed.js"></script>'
            )
            html = html.replace("</body>", f"{tail}</body>", 1)
        return html

    def _file(self, rel: str) -> Path | None:
        for root in filter(None, (self.root, self.assets)):
            path = (root / rel).resolve()
            if path.is_dir():
                path = path / "index.html"
            if path.is_relative_to(root.resolve()) and path.is_file():
                return path
        return None

    def app(self) -> Starlette:
        async def serve(request: Request) -> Response:
            rel = request.path_params["path"]
            self.served.append(rel)
            headers = {"content-security-policy": self.csp} if self.csp else {}
            fixed = {
                "host-test.css": (HOST_CSS, "text/css"),
                "host-test.js": (HOST_JS, "text/javascript"),
                "embed-options.js": (self.options_js, "text/javascript"),
            }
            if rel in fixed:
                body, media = fixed[rel]
                return Response(body, media_type=media, headers=headers)
            path = self._file(rel or "index.html")
            if path is None:
                return Response("not found", status_code=404)
            if path.suffix == ".html" and path.stat().st_size <= MAX_PAGE_BYTES:
                embed = request.query_params.get("embed") != "0"
                html = self.page(path.read_text("utf-8", errors="replace"), embed)
                return Response(html, media_type="text/html", headers=headers)
            return FileResponse(path, headers=headers)

        return Starlette(routes=[Route("/{path:path}", serve)])
