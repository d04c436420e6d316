"""POST /v1/critique: where someone's working first goes wrong, and a fix as far as
`reveal` allows."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from service.bounds import bounded, check_question, check_solution, engine_options
from service.deps import EngineDep, StateDep, get_client
from service.metrics import record_critique
from service.protocol import CritiqueRequest, CritiqueResponse
from service.routes.docs import PIPELINE
from service.token_limits import check_critique_tokens

router = APIRouter(prefix="/v1", tags=["pipeline"], dependencies=[Depends(get_client)])


@router.post(
    "/critique",
    response_model=CritiqueResponse,
    summary="Find the first wrong step of a worked solution and correct it.",
    responses=PIPELINE,
)
async def critique(
    body: CritiqueRequest, engine: EngineDep, state: StateDep, request: Request
) -> CritiqueResponse:
    s = state.settings
    check_question(body.question, s)
    check_solution(body.solution, s)
    check_critique_tokens(engine, body.question, body.solution, body.reveal)
    options = engine_options(s, {})  # the server's defaults and limits
    work = engine.acritique(body.question, body.solution, body.reveal, **options)
    result = await bounded(state, work, receive=request.receive)
    record_critique(result.reveal, result.first_error is not None)
    return CritiqueResponse.model_validate(result.to_json())
