"""Dependencies of the routes: settings, engine, job queue, and the caller (auth, then
rate limit).

All are `async def`: FastAPI runs them on the event loop (a plain `def` would go to a
thread pool, where the rate limiter's buckets would need a lock)."""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from glore.engine.glore import GLoRe
from service.errors import ProblemError
from service.jobs.queue import JobQueue
from service.settings import Settings
from service.state import ServiceState

_bearer = HTTPBearer(auto_error=False, description="One of GLORE_API_KEYS, when set.")


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.glore
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_engine(state: StateDep) -> GLoRe:
    if state.engine is None:
        raise ProblemError(
            503,
            "Models unavailable",
            f"the models are not loaded: {state.load_error or 'still loading'}",
            headers={"Retry-After": "30"},
        )
    return state.engine


EngineDep = Annotated[GLoRe, Depends(get_engine)]


async def get_loaded_engine(state: StateDep) -> GLoRe | None:
    """The engine when it is loaded, else None (an app that mounts only the job routes
    may hold no engine at all): the job routes then skip the checks that need it."""
    engine = getattr(state, "engine", None)
    return engine if isinstance(engine, GLoRe) else None


LoadedEngineDep = Annotated[GLoRe | None, Depends(get_loaded_engine)]


async def get_job_queue(request: Request, settings: SettingsDep) -> JobQueue:
    """The app's `JobQueue` (made on first use, kept in `app.state.glore_jobs`); 503 when
    `GLORE_REDIS_URL` is empty."""
    queue: JobQueue | None = getattr(request.app.state, "glore_jobs", None)
    if queue is not None and queue.settings is settings:
        return queue
    if not settings.redis_url:
        raise ProblemError(
            503,
            "Redis not configured",
            "jobs need Redis: set GLORE_REDIS_URL (the other routes work without it)",
        )
    if queue is not None:
        await queue.aclose()
    queue = JobQueue.from_settings(settings)
    request.app.state.glore_jobs = queue
    assert queue is not None
    return queue


QueueDep = Annotated[JobQueue, Depends(get_job_queue)]


async def close_jobs(app: Any) -> None:
    """Close the app's Redis connections of the job routes (call it in the lifespan's end)."""
    queue: JobQueue | None = getattr(app.state, "glore_jobs", None)
    if queue is not None:
        app.state.glore_jobs = None
        await queue.aclose()


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_key(state: ServiceState, request: Request, given: str, keys: list[SecretStr]) -> int:
    """Which of `keys` `given` is (compared in constant time each); a wrong one is a 401
    counted against the client's address, and an address over
    GLORE_AUTH_FAILURES_PER_MINUTE gets 429 before its key is looked at (so a guess there
    learns nothing), while a valid key from any other address is still served."""
    where = address(request)
    wait = state.auth_failures.due(where)
    if wait > 0:
        per = state.settings.auth_failures_per_minute
        raise ProblemError(
            429,
            "Too many failed authentications",
            f"at most {per} wrong keys per minute from one address; retry in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    found = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            found = i
    if found is None:
        state.auth_failures.take(where)
        raise ProblemError(
            401,
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="glore", error="invalid_token"'},
        )
    return found


def tenant(request: Request) -> str:
    """Who is asking, as `get_client` set it; "open" when auth is off (or not run)."""
    return str(getattr(request.state, "tenant", "open"))


async def get_client(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's identity (`key-N`, or its address when auth is off) after the key check
    (401) and its rate limit (429). Keys are never logged: only their index."""
    if state.settings.api_keys:
        if credentials is None:
            raise ProblemError(
                401,
                "Unauthorized",
                "send an API key as 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": 'Bearer realm="glore"'},
            )
        index = check_key(state, request, credentials.credentials, state.settings.api_keys)
        client = f"key-{index}"
        # Idempotency keys live in the key holder's own namespace: a fingerprint of the
        # secret (not its index, which moves when keys are added or rotated).
        request.state.tenant = hashlib.sha256(credentials.credentials.encode()).hexdigest()[:16]
    else:
        client = f"addr-{address(request)}"
        request.state.tenant = "open"
    state.limiter.check(client)
    return client


async def check_metrics_key(request: Request, state: StateDep) -> None:
    """/metrics asks for GLORE_METRICS_KEY when it is set (failures throttled as above).
    The header is read here, not declared: the document would say a key is required."""
    key = state.settings.metrics_key
    if key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ProblemError(
            401,
            "Unauthorized",
            "/metrics needs GLORE_METRICS_KEY as 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": 'Bearer realm="glore-metrics"'},
        )
    check_key(state, request, given.strip(), [key])


ClientDep = Annotated[str, Depends(get_client)]
"""Put on every /v1 router: `dependencies=[Depends(get_client)]`."""
