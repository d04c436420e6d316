"""GET /: the playground page (critique a working, or watch a solve stream), and the few
static files it loads from `service/static`. The page calls only the public API.

It is plain HTML, CSS and ES modules: nothing to build. Its headers forbid every script,
style or connection that is not this server's own, so a working pasted into it cannot run
as code even if a bug let it into the markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from service.errors import ProblemError

STATIC = Path(__file__).resolve().parents[1] / "static"
FILES = {
    "page.css": "text/css; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
}
"""What `/static/` serves: a fixed list, so no path from a request reaches the disk."""

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/")
async def page() -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = FILES.get(name)
    if media_type is None:
        raise ProblemError(
            404, "Not Found", f"no static file {name!r}; the page serves {', '.join(sorted(FILES))}"
        )
    return Response(_read(name), media_type=media_type, headers=HEADERS)
