"""POST /v1/solve: one question through a strategy; `stream: true` sends each stage as a
server-sent event as it finishes (draft, orm, sorm, global, local, final)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from glore.engine.glore import GLoRe
from glore.engine.result import SolveResult
from service.bounds import bounded, check_question, engine_options
from service.deps import EngineDep, StateDep, get_client
from service.errors import to_problem
from service.metrics import record_solve
from service.protocol import STAGES, SolveRequest, SolveResponse
from service.routes.docs import PIPELINE
from service.stages import relay_stages
from service.state import ServiceState
from service.token_limits import check_question_tokens

router = APIRouter(prefix="/v1", tags=["pipeline"], dependencies=[Depends(get_client)])

_STREAM_DOC = {
    "text/event-stream": {
        "schema": {
            "description": "Each server-sent event: `event` names the stage, `data` is its "
            "JSON (`final`: the SolveResponse; `error`: a Problem).",
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"type": "string", "enum": [*STAGES, "error"]},
                "data": {"type": "string", "contentMediaType": "application/json"},
            },
        },
        "example": 'event: draft\ndata: {"candidates": [...]}\n\n',
    }
}


@router.post(
    "/solve",
    response_model=SolveResponse,
    summary="Solve a question: draft, decide when and where to refine, refine, rerank.",
    responses={200: {"content": _STREAM_DOC}, **PIPELINE},
)
async def solve(body: SolveRequest, engine: EngineDep, state: StateDep, request: Request) -> Any:
    check_question(body.question, state.settings)
    options = engine_options(state.settings, body.options.engine_options())
    check_question_tokens(engine, body.question, body.strategy, options["max_tokens"])
    if body.stream:
        return _stream(engine, state, body, options)
    work = engine.asolve(body.question, body.strategy, **options)
    result = await bounded(state, work, receive=request.receive)
    record_solve(result)
    return _response(result)


def _response(result: SolveResult) -> SolveResponse:
    return SolveResponse.model_validate(result.to_json())


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(
    engine: GLoRe, state: ServiceState, body: SolveRequest, options: dict[str, Any]
) -> StreamingResponse:
    """Take the slot now (a full server answers 503, not a stream), run the pipeline as a
    task that owns the slot, and relay its stages (`service.stages`). A client that goes
    away cancels it."""
    relay = relay_stages(engine, state, body.question, body.strategy, options)

    async def events() -> AsyncIterator[str]:
        async for stage, data in relay:
            if stage == "final":
                record_solve(data)
                yield sse("final", _response(data).model_dump(mode="json"))
            elif stage == "error":
                yield sse("error", to_problem(data).body())
            else:
                yield sse(stage, data)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
