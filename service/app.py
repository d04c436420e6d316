"""`create_app`: the FastAPI gateway over one GLoRe engine.

`uvicorn --factory service.app:create_app` (or `glore serve`) builds it from `GLORE_*`
settings; tests pass `settings` and an `engine`. On shutdown uvicorn stops accepting, waits
for the requests in flight, then runs the lifespan's end, which waits for any pipeline run
still going (at most `request_timeout_s`) before it closes the engine's backends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

import glore
from glore.engine.glore import GLoRe
from service.deps import close_jobs, get_client
from service.engine import close_engine, open_engine
from service.errors import install_handlers
from service.jobs import routes as jobs_routes
from service.limits import BodyLimitMiddleware
from service.metrics import MetricsMiddleware
from service.openai_errors import OpenAIErrorMiddleware
from service.problems import PROBLEM_JSON
from service.routes import critique, health, metrics, openai, page, solve
from service.settings import Settings, get_settings
from service.state import ServiceState
from service.url_secrets import QueryCredentialGuard, redact_access_log

log = logging.getLogger("glore.service")


def create_app(settings: Settings | None = None, engine: GLoRe | None = None) -> FastAPI:
    """The app. Without `engine`, its lifespan loads `settings.models` (and closes it at the
    end); an injected engine is the caller's to close."""
    state = ServiceState(settings or get_settings(), engine)
    redact_access_log()
    owns_engine = engine is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_engine:
            await open_engine(state)
        try:
            yield
        finally:
            if not await state.gate.drain(state.settings.request_timeout_s):
                log.warning("shutting down with %d pipeline runs in flight", state.gate.count)
            await close_jobs(app)
            if owns_engine and state.engine is not None:
                await close_engine(state.engine)
                state.engine = None

    app = FastAPI(
        title="GLoRe",
        version=glore.__version__,
        summary="When, where and how to refine step-by-step reasoning.",
        lifespan=lifespan,
    )
    app.state.glore = state
    install_handlers(app)
    for module in (solve, critique, health, metrics, openai, page):
        app.include_router(module.router)
    # Jobs get the same auth and rate limit as every other /v1 route.
    app.include_router(jobs_routes.router, dependencies=[Depends(get_client)])
    # Added last is outermost: metrics see every answer, 413s included.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=state.settings.max_body_bytes,
        timeout_s=state.settings.body_timeout_s,
    )
    # Before the body is read and the key checked: a key in the URL is refused.
    app.add_middleware(QueryCredentialGuard)
    # Outside the body limit, so its 413 takes OpenAI's shape on the OpenAI routes too.
    app.add_middleware(OpenAIErrorMiddleware, paths=openai.PATHS)
    app.add_middleware(MetricsMiddleware)
    _document_limits(app, state.settings)
    return app


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Write the configured limits into the OpenAPI document (the models hold none of
    them), and give error responses the problem+json media type (but on the OpenAI routes,
    whose errors are OpenAI's JSON)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = FastAPI.openapi(app)
        schemas = doc.get("components", {}).get("schemas", {})
        bounds = {
            ("SolveRequest", "question", "maxLength"): settings.max_question_chars,
            ("CritiqueRequest", "question", "maxLength"): settings.max_question_chars,
            ("CritiqueRequest", "solution", "maxLength"): settings.max_solution_chars,
            ("SolveOptions", "max_tokens", "maximum"): settings.max_tokens,
            ("JobRequest", "items", "maxItems"): settings.max_job_items,
            ("JobItem", "question", "maxLength"): settings.max_question_chars,
            **openai.limits(settings),
        }
        for (model, field, key), value in bounds.items():
            prop = schemas.get(model, {}).get("properties", {}).get(field)
            if prop is None:
                continue
            # On the value's own schema: an optional field's non-null branch.
            parts = [p for p in prop.get("anyOf", []) if p.get("type") != "null"] or [prop]
            for part in parts:
                part[key] = value
        for path in doc.get("paths", {}).values():
            for op in path.values():
                if openai.TAG in op.get("tags", []):  # OpenAI's errors, not problems
                    openai.document(op)
                    continue
                for status, response in op.get("responses", {}).items():
                    content = response.get("content", {})
                    if status.isdigit() and int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
