"""Credentials kept out of URLs: refused in the query string (400), and redacted from
uvicorn's access log, which writes every request's path and query.

The log keeps the values of the query parameters the API defines (`API_QUERY`) and
replaces every other value with `[redacted]`, so a key sent under any name stays out of it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import problem

API_QUERY = frozenset({"offset", "limit", "format"})
"""Every query parameter of the API (a test keeps this in step with the OpenAPI document)."""
CREDENTIAL = re.compile(
    r"(?i)(api[-_]?key|key$|^key|token|secret|passw|auth|bearer|credential|session|^sig)"
)
"""Query parameter names that look like they carry a credential."""
REDACTED = "[redacted]"
ACCESS_LOGGER = "uvicorn.access"


def redact_query(target: str) -> str:
    """`target` (a path with its query) with every value outside `API_QUERY` redacted."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        if name in API_QUERY:
            parts.append(part)
        else:  # a bare `?VALUE` may be the key itself
            parts.append(f"{name}={REDACTED}" if eq else REDACTED)
    return f"{path}?{'&'.join(parts)}"


class RedactQuery(logging.Filter):
    """Redacts the path argument of uvicorn's access log lines
    (`'%s - "%s %s HTTP/%s" %d'`: client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once per process)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())


class QueryCredentialGuard:
    """Answer 400 to a request whose query string names a credential-like parameter,
    before its body is read or its key is checked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            query = bytes(scope["query_string"]).decode("latin-1")
            names = [n for n, _ in parse_qsl(query, keep_blank_values=True) if CREDENTIAL.search(n)]
            if names:
                response = problem(
                    400,
                    "Credentials in the URL",
                    f"the query parameter {names[0]!r} looks like a credential; URLs are "
                    "written to logs, so keys are refused there: send the key as "
                    "'Authorization: Bearer KEY'",
                    kind="credentials-in-url",
                    allowed=f"query parameters: {', '.join(sorted(API_QUERY))}",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["API_QUERY", "QueryCredentialGuard", "redact_access_log", "redact_query"]
