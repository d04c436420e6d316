"""GET /metrics: the Prometheus text format (see `service.metrics` for the names)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import check_metrics_key
from service.metrics import registry
from service.routes.docs import problems

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (with GLORE_METRICS_KEY set, as a Bearer key).",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **problems(401, 429),
    },
    dependencies=[Depends(check_metrics_key)],
)
async def metrics() -> Response:
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)
