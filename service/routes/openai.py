"""The OpenAI-compatible surface: POST /v1/chat/completions, POST /v1/completions,
GET /v1/models (and /v1/models/{model}).

`model` names the strategy (`service.openai_protocol.MODELS`); the answer is the winning
solution, GLoRe's account of it is the `glore` field. The same key check, rate limit,
in-flight bound, deadline and input limits as /v1/solve; errors in OpenAI's shape
(`service.openai_errors`); what a stream sends when: `service.openai_convert`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from glore.engine.glore import GLoRe
from service.bounds import bounded
from service.deps import EngineDep, StateDep, get_client
from service.errors import ProblemError
from service.metrics import record_solve
from service.openai_convert import chat_completion, chunks, completion, prepare
from service.openai_objects import (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    CompletionChunk,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from service.openai_protocol import (
    MODELS,
    ChatBestOfRequest,
    ChatCompletionRequest,
    ChatGreedyRequest,
    CompletionRequest,
)
from service.settings import Settings
from service.stages import relay_stages
from service.state import ServiceState
from service.token_limits import check_question_tokens

TAG = "openai"
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")
"""Where errors take OpenAI's shape (a path or anything under it)."""

router = APIRouter(prefix="/v1", tags=[TAG], dependencies=[Depends(get_client)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "A field is invalid, over a limit, or a parameter GLoRe cannot honour.",
        401: "No API key, or not a valid one (when GLORE_API_KEYS is set).",
        413: "The request body is over GLORE_MAX_BODY_BYTES.",
        429: "Over GLORE_RATE_LIMIT_PER_MINUTE for this key; see Retry-After.",
        500: "The server failed; the error is in its log.",
        502: "A model backend failed for good.",
        503: "Overloaded (GLORE_MAX_IN_FLIGHT), models not loaded, or a backend down.",
        504: "The pipeline ran past GLORE_REQUEST_TIMEOUT_S.",
    }.items()
}


def _stream_doc(chunk: type[ChatCompletionChunk | CompletionChunk]) -> dict[str, Any]:
    return {
        "text/event-stream": {
            "schema": {
                "description": f"Each server-sent event's `data` is a {chunk.__name__} as "
                "JSON, then `[DONE]`; a failure is an ErrorResponse.",
                "type": "object",
                "required": ["data"],
                "properties": {
                    "event": {"type": "string"},
                    "data": {"type": "string", "contentMediaType": "application/json"},
                },
            },
            "example": 'data: {"object": "chat.completion.chunk", "choices": [...]}\n\n',
        }
    }


def _stream(
    body: Any, engine: GLoRe, state: ServiceState, work: tuple[str, str, dict[str, Any]]
) -> StreamingResponse:
    """The in-flight slot is taken now: a full server answers 503, not a stream."""
    question, strategy, options = work
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    events = chunks(
        relay_stages(engine, state, question, strategy, options),
        chat=isinstance(body, ChatGreedyRequest | ChatBestOfRequest),
        model=body.model,
        options=options,
        include_usage=include_usage,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def _prepare(body: Any, engine: GLoRe, settings: Settings) -> tuple[str, str, dict[str, Any]]:
    """`prepare`, then the question's tokens against the models' context."""
    question, strategy, options = prepare(body, settings)
    field = "prompt" if hasattr(body, "prompt") else "messages"
    check_question_tokens(engine, question, strategy, options["max_tokens"], ("body", field))
    return question, strategy, options


async def _answer(
    body: Any, engine: GLoRe, state: ServiceState, request: Request, reply: Callable[..., Any]
) -> Any:
    """Both routes: checked, then streamed, or solved in a slot and shaped by `reply`."""
    work = _prepare(body, engine, state.settings)
    if body.stream:
        return _stream(body, engine, state, work)
    question, strategy, options = work
    solving = engine.asolve(question, strategy, **options)
    result = await bounded(state, solving, receive=request.receive)
    record_solve(result)
    return reply(result, body.model, options)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI chat completions: the last user message is the question.",
    responses={200: {"content": _stream_doc(ChatCompletionChunk)}, **_ERRORS},
)
async def chat_completions(
    body: ChatCompletionRequest, engine: EngineDep, state: StateDep, request: Request
) -> Any:
    return await _answer(body, engine, state, request, chat_completion)


@router.post(
    "/completions",
    response_model=Completion,
    summary="OpenAI (legacy) completions: the prompt is the question.",
    responses={200: {"content": _stream_doc(CompletionChunk)}, **_ERRORS},
)
async def completions(
    body: CompletionRequest, engine: EngineDep, state: StateDep, request: Request
) -> Any:
    return await _answer(body, engine, state, request, completion)


_LISTED = int(time.time())


def _card(name: str) -> ModelCard:
    return ModelCard(id=name, created=_LISTED)


@router.get(
    "/models",
    response_model=ModelList,
    summary="The models: one per strategy.",
    responses={k: v for k, v in _ERRORS.items() if k in (401, 429, 500)},
)
async def models() -> ModelList:
    return ModelList(data=[_card(m) for m in MODELS])


@router.get(
    "/models/{model}",
    response_model=ModelCard,
    summary="One model.",
    responses={
        404: {"model": ErrorResponse, "description": "No such model."},
        **{k: v for k, v in _ERRORS.items() if k in (401, 429, 500)},
    },
)
async def model_card(model: str) -> ModelCard:
    if model not in MODELS:
        raise ProblemError(
            404, "Model not found", f"no model {model!r}; models: {', '.join(MODELS)}"
        )
    return _card(model)


def document(op: dict[str, Any]) -> None:
    """Finish an operation's OpenAPI entry: a 400, never a 422, and the body's shapes told
    apart by their `model` enums alone (the discriminator maps many names to each shape,
    which some tools read as one name per shape)."""
    op.get("responses", {}).pop("422", None)
    for content in op.get("requestBody", {}).get("content", {}).values():
        content.get("schema", {}).pop("discriminator", None)


def limits(settings: Settings) -> dict[tuple[str, str, str], int]:
    """The configured limits to write into the OpenAPI document, as `service.app` does."""
    out = {("ChatMessage", "content", "maxLength"): settings.max_question_chars}
    for shape in ("Greedy", "BestOf"):
        out[(f"Completion{shape}Request", "prompt", "maxLength")] = settings.max_question_chars
        for kind in ("Chat", "Completion"):
            out[(f"{kind}{shape}Request", "max_tokens", "maximum")] = settings.max_tokens
        out[(f"Chat{shape}Request", "max_completion_tokens", "maximum")] = settings.max_tokens
    return out
