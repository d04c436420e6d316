"""What one app holds: its settings, the engine, and the bounds on work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from glore.engine.config import EngineConfig
from glore.engine.glore import GLoRe
from glore.errors import GloreError
from service.limits import InFlight, RateLimiter
from service.metrics import watch_prefix_caches
from service.settings import Settings

log = logging.getLogger("glore.service")


@dataclass
class ServiceState:
    settings: Settings
    engine: GLoRe | None = None
    load_error: str | None = None
    """Why the models failed to load (then /readyz and the pipeline routes answer 503)."""
    gate: InFlight = field(init=False)
    limiter: RateLimiter = field(init=False)
    auth_failures: RateLimiter = field(init=False)
    """Failed key checks per client address."""

    def __post_init__(self) -> None:
        self.gate = InFlight(self.settings.max_in_flight)
        self.limiter = RateLimiter(self.settings.rate_limit_per_minute)
        self.auth_failures = RateLimiter(self.settings.auth_failures_per_minute)


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's defaults and input limits, from the settings."""
    return EngineConfig(
        mode="gated" if settings.mode == "gated" else "always",
        tau_when=settings.tau_when,
        tau_where=settings.tau_where,
        rerank_margin=settings.rerank_margin,
        max_tokens=settings.max_tokens,
        max_question_chars=settings.max_question_chars,
        max_solution_steps=settings.max_solution_steps,
    )


def engine_from_settings(settings: Settings) -> GLoRe:
    """`settings.models` with the settings' device, precision, batching and defaults: how
    the gateway and the job worker both load the engine."""
    engine = GLoRe.from_pretrained(
        settings.models,
        device=settings.device,
        config=engine_config(settings),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.batch_wait_ms,
        dtype=settings.dtype,
        scorer_dtype=settings.scorer_dtype,
    )
    watch_prefix_caches(engine)
    return engine


async def load_engine(state: ServiceState) -> bool:
    """Load `settings.models` (in a thread: it reads weights). A `GloreError` (a missing
    store, a bad spec) is logged and kept in `load_error`: the app still serves /healthz,
    and /readyz says why it is not ready. Returns whether it loaded."""
    s = state.settings
    try:
        state.engine = await asyncio.to_thread(engine_from_settings, s)
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
