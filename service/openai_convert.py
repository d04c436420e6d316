"""Between OpenAI's shapes and the engine's: a request -> (question, strategy, options), a
result -> a completion object, and a solve's stages -> the chunks of a stream.

A stream (`stream: true`), in order: a chunk with the assistant role and no text, sent at
once; one extension chunk per pipeline stage as it finishes (`draft`, `orm`, `sorm`, then
`global` and `local` when the draft is refined), each with an empty delta (no text, so a
standard client shows nothing) and the stage in `glore`; once the winner is known, its
solution as text chunks, one per step; a chunk with `finish_reason` and the whole
`GloreDetail` in `glore` (stage `final`); with `stream_options.include_usage`, a chunk
with no choices and `usage`; then `data: [DONE]`. A failure after the stream began is one
`data: {"error": ...}` event, which the openai client raises as an `APIError`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.exceptions import RequestValidationError

import glore
from glore.engine.result import SolveResult
from service.bounds import check_question, engine_options
from service.errors import to_problem
from service.metrics import record_solve
from service.openai_errors import openai_error
from service.openai_objects import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionChunk,
    Delta,
    FinishReason,
    GloreDetail,
    StageChunk,
    TokenDetails,
    Usage,
)
from service.openai_protocol import (
    MODELS,
    ChatBestOfRequest,
    ChatGreedyRequest,
    CompletionBestOfRequest,
    CompletionGreedyRequest,
)
from service.settings import Settings

ChatRequest = ChatGreedyRequest | ChatBestOfRequest
TextRequest = CompletionGreedyRequest | CompletionBestOfRequest
FINGERPRINT = f"glore-{glore.__version__}"


@contextmanager
def _at(*loc: str | int) -> Iterator[None]:
    """Report a limit broken inside the block at `loc` of the OpenAI request."""
    try:
        yield
    except RequestValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *loc)} for e in exc.errors()]) from None


def prepare(body: ChatRequest | TextRequest, settings: Settings) -> tuple[str, str, dict[str, Any]]:
    """The question, the strategy and its engine options, checked against the limits."""
    if isinstance(body, ChatGreedyRequest | ChatBestOfRequest):
        for i, m in enumerate(body.messages):
            with _at("messages", i, "content"):
                check_question(m.content, settings)
        users = [m.content for m in body.messages if m.role == "user"]
        if not users:  # the schema says so too (`contains`); this is the one check
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body", "messages"), "msg": "no user message"}]
            )
        question = users[-1]
    else:
        with _at("prompt"):
            check_question(body.prompt, settings)
        question = body.prompt
    for field in ("max_tokens", "max_completion_tokens"):  # each is held to the limit
        cap = getattr(body, field, None)
        if cap is not None:
            with _at(field):
                engine_options(settings, {"max_tokens": cap})
    strategy, fixed = MODELS[body.model]
    options = engine_options(settings, {**body.engine_options(), **fixed})
    return question, strategy, options


def detail(result: SolveResult) -> GloreDetail:
    draft = result.find("draft")
    # "The draft's first wrong step; null if none": the restart step only when flagged.
    first = draft.first_error if draft is not None and draft.first_error_flagged else None
    text = draft.steps[first] if draft is not None and first is not None else None
    data = {**result.to_json(), "first_error": first, "first_error_text": text}
    return GloreDetail.model_validate(data)


def usage(result: SolveResult) -> Usage:
    total = result.total_tokens
    winner = result.candidate(result.winner).tokens
    return Usage(
        prompt_tokens=0,
        completion_tokens=total,
        total_tokens=total,
        completion_tokens_details=TokenDetails(reasoning_tokens=max(0, total - winner)),
    )


def finish_reason(result: SolveResult, options: dict[str, Any]) -> FinishReason:
    """`length` when the winner used its whole token budget, else `stop`."""
    return "length" if result.candidate(result.winner).tokens >= options["max_tokens"] else "stop"


def _head(prefix: str, model: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }


def chat_completion(result: SolveResult, model: str, options: dict[str, Any]) -> ChatCompletion:
    text = result.candidate(result.winner).text
    choice = ChatChoice(
        index=0,
        message=AssistantMessage(content=text),
        finish_reason=finish_reason(result, options),
    )
    head = _head("chatcmpl", model)
    return ChatCompletion(**head, choices=[choice], usage=usage(result), glore=detail(result))


def completion(result: SolveResult, model: str, options: dict[str, Any]) -> Completion:
    text = result.candidate(result.winner).text
    choice = CompletionChoice(index=0, text=text, finish_reason=finish_reason(result, options))
    return Completion(
        **_head("cmpl", model), choices=[choice], usage=usage(result), glore=detail(result)
    )


def _event(data: Any) -> str:
    body = data.model_dump(mode="json") if hasattr(data, "model_dump") else data
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


async def chunks(
    stages: AsyncIterator[tuple[str, Any]],
    *,
    chat: bool,
    model: str,
    options: dict[str, Any],
    include_usage: bool,
) -> AsyncIterator[str]:
    """The server-sent events of a stream (the module's docstring says what comes when)."""
    head = _head("chatcmpl" if chat else "cmpl", model)

    def chunk(
        text: str | None = None,
        *,
        role: bool = False,
        finish: FinishReason | None = None,
        stage: StageChunk | None = None,
        used: Usage | None = None,
    ) -> str:
        if chat:
            delta = Delta(role="assistant" if role else None, content=text)
            choices = [ChunkChoice(index=0, delta=delta, finish_reason=finish)]
            return _event(
                ChatCompletionChunk(
                    **head, choices=[] if used else choices, usage=used, glore=stage
                )
            )
        choice = CompletionChoice(index=0, text=text or "", finish_reason=finish)
        return _event(
            CompletionChunk(**head, choices=[] if used else [choice], usage=used, glore=stage)
        )

    yield chunk("", role=True)
    async for stage, payload in stages:
        if stage == "error":
            yield _event(openai_error(to_problem(payload).body())[1])
            return
        if stage != "final":
            yield chunk(stage=StageChunk(stage=stage, data=payload))
            continue
        result: SolveResult = payload
        record_solve(result)
        for step in result.candidate(result.winner).text.splitlines(keepends=True):
            yield chunk(step)
        final = StageChunk(stage="final", data=detail(result).model_dump(mode="json"))
        yield chunk(finish=finish_reason(result, options), stage=final)
        if include_usage:
            yield chunk(used=usage(result))
    yield "data: [DONE]\n\n"


__all__ = ["chat_completion", "chunks", "completion", "prepare"]
