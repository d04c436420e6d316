"""The service's bounds on a request, each written once: what its text and options may
be (the settings' limits, checked before any work), the settings' defaults merged into its
options, and its run held to an in-flight slot and a deadline.

The solve, critique, OpenAI and job routes all check a question with `question_error`
and options with `option_errors`; the engine's config is built from the same defaults
(`server_options`), so the gateway and the job worker apply the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from starlette.types import Receive

from glore.engine.config import EngineConfig
from glore.errors import InvalidInputError
from glore.formats import parse_solution
from service.errors import ProblemError, limit_error
from service.settings import Settings
from service.state import ServiceState

T = TypeVar("T")
Loc = tuple[str | int, ...]


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


def server_options(settings: Settings) -> dict[str, Any]:
    """The settings' defaults and input limits, as engine options (`EngineConfig` fields):
    the engine's config and every request's options start from these."""
    return {
        "mode": settings.mode,
        "tau_when": settings.tau_when,
        "tau_where": settings.tau_where,
        "rerank_margin": settings.rerank_margin,
        "rerank_floor": settings.rerank_floor,
        "abstain_below": settings.abstain_below,
        "max_tokens": settings.max_tokens,
        "max_question_chars": settings.max_question_chars,
        "max_solution_steps": settings.max_solution_steps,
    }


_LIMITS = ("max_question_chars", "max_solution_steps")
"""Options a request cannot override."""


def _error(loc: Loc, kind: str, msg: str, **ctx: Any) -> dict[str, Any]:
    """An error in pydantic's shape ({type, loc, msg, ctx})."""
    return {"type": kind, "loc": loc, "msg": msg, "ctx": ctx}


def length_error(loc: Loc, field: str, text: str, limit: int) -> dict[str, Any] | None:
    if len(text) <= limit:
        return None
    msg = f"the {field} has {len(text)} characters; at most {limit} are allowed"
    return _error(loc, "string_too_long", msg, max_length=limit)


def question_error(
    question: str, settings: Settings, loc: Loc = ("body", "question")
) -> dict[str, Any] | None:
    """The question against GLORE_MAX_QUESTION_CHARS (its tokens: `service.token_limits`)."""
    return length_error(loc, "question", question, settings.max_question_chars)


def check_question(question: str, settings: Settings) -> None:
    error = question_error(question, settings)
    if error is not None:
        raise RequestValidationError([error])


def check_solution(solution: str, settings: Settings) -> None:
    error = length_error(("body", "solution"), "solution", solution, settings.max_solution_chars)
    if error is not None:
        raise RequestValidationError([error])
    steps = len(parse_solution(solution).steps)
    if steps > settings.max_solution_steps:
        raise limit_error(
            ("body", "solution"),
            "too_many_steps",
            f"the solution has {steps} steps; at most {settings.max_solution_steps} are allowed",
            max_steps=settings.max_solution_steps,
        )


def option_errors(
    settings: Settings, given: dict[str, Any], loc: Loc = ("body", "options")
) -> list[dict[str, Any]]:
    """The one check of a request's options: `max_tokens` against GLORE_MAX_TOKENS, then
    the engine's own check of the options it would run with; -> errors in pydantic's shape
    (empty when they are fine)."""
    max_tokens = given.get("max_tokens")
    if max_tokens is not None and max_tokens > settings.max_tokens:
        msg = f"max_tokens is {max_tokens}; at most {settings.max_tokens} are allowed"
        return [_error((*loc, "max_tokens"), "less_than_equal", msg, le=settings.max_tokens)]
    try:
        EngineConfig(**_merged(settings, given))
    except InvalidInputError as exc:
        return [_error(loc, "value_error", exc.message)]
    return []


def _merged(settings: Settings, given: dict[str, Any]) -> dict[str, Any]:
    defaults = server_options(settings)
    return {**defaults, **given, **{k: defaults[k] for k in _LIMITS}}


def engine_options(settings: Settings, given: dict[str, Any]) -> dict[str, Any]:
    """The server's defaults and limits, overridden by what the request gave (checked by
    `option_errors`: a 422 when it fails)."""
    errors = option_errors(settings, given)
    if errors:
        raise RequestValidationError(errors)
    return _merged(settings, given)
