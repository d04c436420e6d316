"""The error responses each route documents (their bodies are `Problem`s)."""

from __future__ import annotations

from typing import Any

from service.protocol import Problem

_TEXT = {
    400: "The body could not be read (not UTF-8 text).",
    401: "No key, or not a valid one (GLORE_API_KEYS; GLORE_METRICS_KEY on /metrics).",
    413: "The request body is over GLORE_MAX_BODY_BYTES.",
    422: "A field is invalid or over a limit; `errors` lists each.",
    429: "Over GLORE_RATE_LIMIT_PER_MINUTE for this key, or over "
    "GLORE_AUTH_FAILURES_PER_MINUTE wrong keys from this address; see Retry-After.",
    500: "The server failed; the error is in its log.",
    502: "A model backend failed for good.",
    503: "Overloaded (GLORE_MAX_IN_FLIGHT), models not loaded, or a backend down; see Retry-After.",
    504: "The pipeline ran past GLORE_REQUEST_TIMEOUT_S.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": Problem, "description": _TEXT[s]} for s in statuses}


PIPELINE = problems(400, 401, 413, 422, 429, 500, 502, 503, 504)
