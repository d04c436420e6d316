"""Running the engine under the service's bounds: an in-flight slot and a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.types import Receive

from glore.formats import parse_solution
from service.errors import ProblemError, limit_error
from service.settings import Settings
from service.state import ServiceState

T = TypeVar("T")


@asynccontextmanager
async def deadline(seconds: float) -> AsyncIterator[None]:
    """Cancel the body after `seconds`; answer 504."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ProblemError(
            504,
            "Timed out",
            f"the pipeline did not finish within the limit of {seconds:g} s",
        ) from None


async def _until_disconnect(receive: Receive) -> None:
    """Return when the client has gone (the body is read: only a disconnect comes next)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(work: Awaitable[T], receive: Receive) -> T:
    """`work`, cancelled when the client disconnects first (then 499, which nobody reads:
    it is what the metrics and the access log record)."""
    task = asyncio.ensure_future(work)
    watch = asyncio.create_task(_until_disconnect(receive))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # the engine's work unwinds before the slot is released
    if task.cancelled():
        raise ProblemError(
            499, "Client closed request", "the client went away; its work was cancelled"
        )
    return task.result()


async def bounded(
    state: ServiceState,
    work: Awaitable[T],
    *,
    slot_taken: bool = False,
    receive: Receive | None = None,
) -> T:
    """Await `work` in an in-flight slot (taken here unless `slot_taken`: 503 when none is
    free) and under the request deadline (504); the slot is released either way. With the
    request's `receive`, the work is cancelled as soon as the client disconnects."""
    if not slot_taken:
        try:
            state.gate.acquire()
        except ProblemError:
            if asyncio.iscoroutine(work):
                work.close()
            raise
    try:
        async with deadline(state.settings.request_timeout_s):
            if receive is None:
                return await work
            return await _unless_client_leaves(work, receive)
    finally:
        state.gate.release()


def _check_length(field: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise limit_error(
            ("body", field),
            "string_too_long",
            f"the {field} has {len(text)} characters; at most {limit} are allowed",
            max_length=limit,
        )


def check_question(question: str, settings: Settings) -> None:
    _check_length("question", question, settings.max_question_chars)


def check_solution(solution: str, settings: Settings) -> None:
    _check_length("solution", solution, settings.max_solution_chars)
    steps = len(parse_solution(solution).steps)
    if steps > settings.max_solution_steps:
        raise limit_error(
            ("body", "solution"),
            "too_many_steps",
            f"the solution has {steps} steps; at most {settings.max_solution_steps} are allowed",
            max_steps=settings.max_solution_steps,
        )


def engine_options(settings: Settings, given: dict[str, Any]) -> dict[str, Any]:
    """The server's defaults and limits, overridden by what the request gave (checked)."""
    max_tokens = given.get("max_tokens")
    if max_tokens is not None and max_tokens > settings.max_tokens:
        raise limit_error(
            ("body", "options", "max_tokens"),
            "less_than_equal",
            f"max_tokens is {max_tokens}; at most {settings.max_tokens} are allowed",
            le=settings.max_tokens,
        )
    return {
        "mode": settings.mode,
        "tau_when": settings.tau_when,
        "tau_where": settings.tau_where,
        "rerank_margin": settings.rerank_margin,
        "max_tokens": settings.max_tokens,
        **given,
        "max_question_chars": settings.max_question_chars,
        "max_solution_steps": settings.max_solution_steps,
    }
