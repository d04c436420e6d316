"""GET /healthz (the process answers) and GET /readyz (it can serve: models loaded, Redis
reachable when configured, remote model servers answering when the spec names any)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter

from glore.backends.remote.vllm_contract import HEALTH_PATH, MODELS_PATH
from glore.engine.loading import read_spec
from glore.errors import GloreError
from service.deps import StateDep
from service.problems import problem
from service.protocol import Check, Health, Readiness
from service.routes.docs import problems
from service.settings import Settings
from service.state import ServiceState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up.")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Ready to serve: every check passed (else 503 with each check).",
    responses=problems(503),
)
async def readyz(state: StateDep) -> Any:
    checks = await readiness(state)
    if all(c.ok for c in checks):
        return Readiness(status="ready", checks=checks)
    failing = ", ".join(c.name for c in checks if not c.ok)
    return problem(
        503,
        "Not ready",
        f"failing checks: {failing}",
        checks=[c.model_dump() for c in checks],
        headers={"Retry-After": "5"},
    )


async def readiness(state: ServiceState) -> list[Check]:
    s = state.settings
    models = Check(
        name="models",
        ok=state.engine is not None,
        detail="loaded" if state.engine is not None else state.load_error or "loading",
    )
    probes = [*([_redis(s)] if s.redis_url else []), *(_backend(u, s) for u in _urls(s))]
    return [models, *await asyncio.gather(*probes)]


async def _redis(s: Settings) -> Check:
    import redis.asyncio as redis

    assert s.redis_url is not None
    t = s.ready_timeout_s
    try:
        client = redis.from_url(s.redis_url, socket_connect_timeout=t, socket_timeout=t)
    except ValueError as exc:
        return Check(name="redis", ok=False, detail=f"bad GLORE_REDIS_URL: {type(exc).__name__}")
    try:
        await asyncio.wait_for(client.ping(), t)
    except Exception as exc:  # any failure is the check's answer; no URL (it may hold a password)
        return Check(name="redis", ok=False, detail=f"no answer to PING: {type(exc).__name__}")
    finally:
        await client.aclose()
    return Check(name="redis", ok=True, detail="PONG")


def _urls(s: Settings) -> list[str]:
    """The remote servers a spec file names (a model store folder names none)."""
    path = Path(s.models)
    if not path.is_file():
        return []
    try:
        spec = read_spec(path)
    except GloreError:
        return []  # the models check already says the spec is bad
    roles: list[Any] = list(spec.values())
    return sorted({r["url"].rstrip("/") for r in roles if isinstance(r, dict) and "url" in r})


async def _backend(url: str, s: Settings) -> Check:
    """Ready when `GET /health` answers 2xx (vLLM, llama.cpp's server); a server without
    `/health` (404: llama.cpp's Python server) is ready when `GET /v1/models` answers 200.
    A 404 from both is a URL that names no model server (is it the server's root?)."""
    name = f"backend:{url}"
    try:
        async with httpx.AsyncClient(timeout=s.ready_timeout_s) as client:
            health = await client.get(url + HEALTH_PATH)
            if health.status_code != 404:
                status = health.status_code
                detail = f"GET /health answered {status}"
                return Check(name=name, ok=200 <= status < 300, detail=detail)
            models = await client.get(url + MODELS_PATH)
    except httpx.HTTPError as exc:
        return Check(name=name, ok=False, detail=f"no answer: {type(exc).__name__}")
    ok = models.status_code == 200
    detail = (
        "GET /health answered 404 (the server has none); "
        f"GET /v1/models answered {models.status_code}"
    )
    if not ok:
        detail += ": no model server at this URL (is it the server's root, without /v1?)"
    return Check(name=name, ok=ok, detail=detail)
