"""GET /metrics: the Prometheus text format (see `service.metrics` for the names)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.metrics import registry

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics.",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)
