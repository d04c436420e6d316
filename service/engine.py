"""How the service gets its engine: one `load_engine(settings)` for the gateway and the
job worker (a `GLORE_ENGINE_FACTORY`, else `settings.models` with the settings' device,
precision, batching and defaults), the gateway's load in the background of its startup,
and closing the backends that hold connections."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging

from glore.engine.config import EngineConfig
from glore.engine.glore import GLoRe
from glore.errors import ConfigError, GloreError
from service.bounds import server_options
from service.metrics import watch_prefix_caches
from service.settings import Settings
from service.state import ServiceState

log = logging.getLogger("glore.service")


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's defaults and input limits, from the settings."""
    return EngineConfig(**server_options(settings))


def _from_factory(spec: str, settings: Settings) -> GLoRe:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ConfigError(f"engine_factory {spec!r}: expected 'module:function'")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"engine_factory {spec!r}: {exc}") from exc
    engine = factory(settings)
    if not isinstance(engine, GLoRe):
        raise ConfigError(f"engine_factory {spec!r} did not build a GLoRe")
    return engine


def load_engine(settings: Settings) -> GLoRe:
    """The engine the settings name: `settings.engine_factory(settings)` when set, else
    `settings.models` with the settings' device, precision, batching and defaults."""
    if settings.engine_factory:
        return _from_factory(settings.engine_factory, settings)
    engine = GLoRe.from_pretrained(
        settings.models,
        device=settings.device,
        config=engine_config(settings),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.batch_wait_ms,
        dtype=settings.dtype,
        scorer_dtype=settings.scorer_dtype,
        greedy_engine=settings.greedy_engine,
    )
    watch_prefix_caches(engine)
    return engine


async def open_engine(state: ServiceState) -> bool:
    """The gateway's `load_engine` (in a thread: it reads weights). A `GloreError` (a
    missing store, a bad spec) is logged and kept in `load_error`: the app still serves
    /healthz, and /readyz says why it is not ready. Returns whether it loaded."""
    s = state.settings
    try:
        state.engine = await asyncio.to_thread(load_engine, s)
    except GloreError as exc:
        state.load_error = exc.message
        log.error("models not loaded from %s: %s", s.models, exc.message)
        return False
    log.info("models loaded from %s", s.models)
    return True


async def close_engine(engine: GLoRe) -> None:
    """Close the backends that hold connections (remote ones); embedded ones need nothing."""
    m = engine.models
    for backend in {id(b): b for b in (m.student, m.orm, m.sorm, m.global_refiner,
                                      m.local_refiner)}.values():  # fmt: skip
        close = getattr(backend, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
