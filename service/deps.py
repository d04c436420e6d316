"""Dependencies of the routes: settings, engine, and the caller (auth, then rate limit).

All are `async def`: FastAPI runs them on the event loop (a plain `def` would go to a
thread pool, where the rate limiter's buckets would need a lock)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from glore.engine.glore import GLoRe
from service.errors import ProblemError
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


def _key_index(state: ServiceState, given: str) -> int | None:
    """Which configured key `given` is; every key is compared, in constant time each."""
    found = None
    for i, key in enumerate(state.settings.api_keys):
        if hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            found = i
    return found


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
        index = _key_index(state, credentials.credentials)
        if index is None:
            raise ProblemError(
                401,
                "Unauthorized",
                "the API key is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="glore", error="invalid_token"'},
            )
        client = f"key-{index}"
        # Idempotency keys live in the key holder's own namespace: a fingerprint of the
        # secret (not its index, which moves when keys are added or rotated).
        request.state.tenant = hashlib.sha256(credentials.credentials.encode()).hexdigest()[:16]
    else:
        client = f"addr-{request.client.host if request.client else 'unknown'}"
        request.state.tenant = "open"
    state.limiter.check(client)
    return client


ClientDep = Annotated[str, Depends(get_client)]
"""Put on every /v1 router: `dependencies=[Depends(get_client)]`."""
