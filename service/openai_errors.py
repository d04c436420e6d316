"""OpenAI's error shape, `{"error": {message, type, param, code}}`, on the OpenAI routes.

Every failure is still decided once, as a problem (`service.errors`, `service.limits`);
`OpenAIErrorMiddleware` rewrites the problem+json answers of the OpenAI paths into this
shape, so the messages are the same and no limit is checked twice. A request the API
calls invalid (422 elsewhere) is 400 here, as OpenAI answers it; other statuses are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.openai_protocol import MODELS
from service.problems import PROBLEM_JSON, TYPE_BASE

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


def _param(loc: list[Any], kind: str) -> str | None:
    """The request field of a problem's `loc`: without `body`, the union's model tag, or a
    position in unreadable JSON."""
    rest = list(loc[1:]) if loc[:1] == ["body"] else list(loc)
    if rest and rest[0] in MODELS:
        rest = rest[1:]
    if not rest and kind.startswith("union_tag"):
        return "model"
    if rest and isinstance(rest[0], int):
        return None
    return ".".join(str(p) for p in rest) or None


def openai_error(problem: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error body of a problem+json body."""
    status = int(problem.get("status", 500))
    if status == 422:
        status = 400
    message = str(problem.get("detail", "error"))
    param = None
    errors = problem.get("errors") or []
    if errors:
        parts = []
        for e in errors:
            where = _param(list(e.get("loc", [])), str(e.get("type", "")))
            param = param or where
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        message = "; ".join(parts)
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    slug = str(problem.get("type", "")).removeprefix(TYPE_BASE)
    error = {"message": message, "type": kind, "param": param, "code": slug.replace("-", "_")}
    return status, {"error": error}


class OpenAIErrorMiddleware:
    """Answer the problems of requests under `paths` in OpenAI's shape (headers kept)."""

    def __init__(self, app: ASGIApp, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = tuple(paths)

    def _covers(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(PROBLEM_JSON.encode()):
                    start = message  # held until the body is whole
                    return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send_converted(start, b"".join(body), send)

        await self.app(scope, receive, sending)

    @staticmethod
    async def _send_converted(start: Message, raw: bytes, send: Send) -> None:
        status, error = openai_error(json.loads(raw))
        data = json.dumps(error).encode()
        kept = [
            (k, v) for k, v in start.get("headers") or []
            if k.lower() not in (b"content-type", b"content-length")
        ]  # fmt: skip
        headers = [
            *kept,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


__all__ = ["OpenAIErrorMiddleware", "openai_error"]
