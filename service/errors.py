"""Every failure as `application/problem+json`: the exception handlers of the app.

Request validation -> 422 listing each field (loc, msg, what is allowed); `InvalidInputError`
-> 422; `ModelNotFoundError` -> 503; `BackendError` -> 503 when retryable, else 502;
`RedisError` (the job store) -> 503; `HTTPException` -> its status; anything else -> 500
without internals (they go to the log). `ProblemRoute` answers a router's own failures the
same way in any app, installed handlers or not (the job routes are mounted on both).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from glore.errors import BackendError, GloreError, InvalidInputError, ModelNotFoundError
from service.problems import problem, problem_body

log = logging.getLogger("glore.service")


class ProblemError(Exception):
    """Raised anywhere in a request to answer with one problem+json response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return problem_body(self.status, self.title, self.detail, **self.extra)

    def response(self) -> Response:
        return problem(self.status, self.title, self.detail, headers=self.headers, **self.extra)


def limit_error(
    loc: Sequence[str | int], kind: str, msg: str, **ctx: Any
) -> RequestValidationError:
    """A runtime limit (a setting) broken by a field, in the shape pydantic reports."""
    return RequestValidationError([{"type": kind, "loc": tuple(loc), "msg": msg, "ctx": ctx}])


_TYPES = {
    "missing": "a value is required",
    "extra_forbidden": "no such field: remove it",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "dict_type": "a JSON object",
    "json_invalid": "a valid JSON body",
    "finite_number": "a finite number",
}
_BOUNDS = {
    "string_too_long": ("max_length", "at most {} characters"),
    "string_too_short": ("min_length", "at least {} characters"),
    "too_long": ("max_length", "at most {} items"),
    "less_than_equal": ("le", "at most {}"),
    "less_than": ("lt", "less than {}"),
    "greater_than_equal": ("ge", "at least {}"),
    "greater_than": ("gt", "more than {}"),
    "literal_error": ("expected", "one of {}"),
    "too_many_steps": ("max_steps", "at most {} steps"),
    "too_many_tokens": ("limit", "at most {} tokens"),
}


def _allowed(kind: str, ctx: Mapping[str, Any]) -> str | None:
    if kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        return text.format(ctx[key]) if key in ctx else None
    return _TYPES.get(kind)


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Each validation error as {loc, msg, type, allowed}; the input is never echoed."""
    out = []
    for e in errors:
        kind = str(e.get("type", "invalid"))
        out.append(
            {
                "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "invalid value")),
                "type": kind,
                "allowed": _allowed(kind, e.get("ctx") or {}),
            }
        )
    return out


def to_problem(exc: BaseException) -> ProblemError:
    """The problem any exception is answered with; unexpected ones are logged, not shown."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, RequestValidationError):
        errors = field_errors(exc.errors())
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        n = len(errors)
        detail = f"{n} invalid field{'s' if n != 1 else ''}: {where}"
        return ProblemError(422, "Invalid request", detail, errors=errors)
    if isinstance(exc, InvalidInputError):
        return ProblemError(422, "Invalid input", exc.message)
    if isinstance(exc, ModelNotFoundError):
        log.error("model not found: %s", exc.message)
        return ProblemError(503, "Models unavailable", exc.message, headers={"Retry-After": "30"})
    if isinstance(exc, BackendError):
        log.warning("backend failed (retryable=%s): %s", exc.retryable, exc.message)
        if exc.retryable:
            return ProblemError(
                503, "Backend unavailable", exc.message, headers={"Retry-After": "1"}
            )
        return ProblemError(502, "Backend failed", exc.message)
    if isinstance(exc, RedisError):
        log.warning("Redis unreachable: %s", exc)
        return ProblemError(
            503,
            "Redis unreachable",
            "the job store (Redis) does not answer; try again later",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, HTTPException) and exc.status_code == 400 and exc.__cause__ is not None:
        return unreadable_body(exc.__cause__)  # FastAPI could not parse the body
    if isinstance(exc, HTTPException):
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        return ProblemError(exc.status_code, title, str(exc.detail), headers=exc.headers)
    log.error("unhandled error", exc_info=exc)
    return ProblemError(
        500, "Internal server error", "the server failed to answer; the error is in its log"
    )


def unreadable_body(cause: BaseException) -> ProblemError:
    """The 400 of a body that is not JSON text Python can read, saying what is allowed."""
    if isinstance(cause, UnicodeDecodeError):
        kind, msg = (
            "body_not_utf8",
            f"the body is not UTF-8 text ({cause.reason} at byte {cause.start})",
        )
        allowed = "JSON text encoded as UTF-8"
    elif isinstance(cause, RecursionError):
        kind, msg = "json_too_deep", "the body's JSON nests too deeply to parse"
        allowed = "JSON nested a few levels deep, as the request schemas are"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        kind, msg = "int_too_long", "an integer in the body has too many digits to parse"
        allowed = f"integers of at most {sys.get_int_max_str_digits()} digits"
    else:
        kind, msg, allowed = "body_unreadable", "the body could not be read", "a JSON object"
    error = {"loc": ["body"], "msg": msg, "type": kind, "allowed": allowed}
    return ProblemError(400, "Unreadable body", f"{msg}; send {allowed}", errors=[error])


def _no_route(request: Request, exc: HTTPException) -> ProblemError:
    """404 and 405 of the router, saying what exists."""
    method, path = request.method, request.url.path[:200]
    if exc.status_code == 405:
        allow = _allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        return ProblemError(
            405,
            "Method not allowed",
            f"{method} is not allowed on {path}; allowed: {allow}",
            headers={**(exc.headers or {}), "Allow": allow},
            allowed=allow,
        )
    return ProblemError(
        404,
        "Not found",
        f"no route {method} {path}; the routes are listed in /openapi.json (and at /docs)",
        allowed="the paths of /openapi.json",
    )


_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _allowed_methods(request: Request) -> str:
    """Every method the OpenAPI document gives the request's path (the router names only
    its first matching route's: `/v1/jobs/{id}` has GET and DELETE on two routes)."""
    openapi = getattr(request.app, "openapi", None)
    paths: dict[str, Any] = openapi().get("paths", {}) if callable(openapi) else {}
    methods: set[str] = set()
    for template, operations in paths.items():
        parts = [
            "[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p)
            for p in template.split("/")
        ]
        if re.fullmatch("/".join(parts), request.url.path):
            methods |= {m.upper() for m in operations if m in _METHODS}
    return ", ".join(sorted(methods))


async def _handle(request: Request, exc: Exception) -> Response:
    if (
        isinstance(exc, HTTPException)
        and exc.status_code in (404, 405)
        and exc.detail
        in (
            "Not Found",
            "Method Not Allowed",
        )
    ):
        return _no_route(request, exc).response()
    return to_problem(exc).response()


def install_handlers(app: FastAPI) -> None:
    for kind in (RequestValidationError, ProblemError, GloreError, HTTPException, Exception):
        app.add_exception_handler(kind, _handle)


_EXPECTED = (ProblemError, RequestValidationError, GloreError, RedisError)
"""What a `ProblemRoute` answers itself; anything else is left to the app."""


class ProblemRoute(APIRoute):
    """A route whose expected failures are answered by `to_problem`, whatever app includes
    its router."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except _EXPECTED as exc:
                return to_problem(exc).response()

        return handle


__all__ = [
    "ProblemError",
    "ProblemRoute",
    "field_errors",
    "install_handlers",
    "limit_error",
    "to_problem",
]
