"""The service's one error shape: RFC 9457 `application/problem+json`.

`{"type", "title", "status", "detail", "instance"}` plus, for validation failures,
`errors`: each with the field path and what is allowed. Every error any route returns
goes through `problem()`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://glore.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response. `kind` names the problem type (defaults from the title)."""
    body = problem_body(status, title, detail, kind=kind, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int, title: str, detail: str, *, kind: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON object of a problem (also sent as a stream's `error` event)."""
    slug = kind or title.lower().replace(" ", "-")
    return {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
