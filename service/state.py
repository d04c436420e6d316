"""What one app holds: its settings, the engine, and the bounds on work."""

from __future__ import annotations

from dataclasses import dataclass, field

from glore.engine.glore import GLoRe
from service.limits import InFlight, RateLimiter
from service.settings import Settings


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
        self.gate = InFlight(self.settings.max_in_flight, self.settings.admission_bound_s)
        self.limiter = RateLimiter(self.settings.rate_limit_per_minute)
        self.auth_failures = RateLimiter(self.settings.auth_failures_per_minute)
