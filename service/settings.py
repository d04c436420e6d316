"""Service settings, read from `GLORE_*` environment variables (or a `.env` file).

Every field documents its default and bound. `GLORE_MODELS` is a model store folder or a
spec file naming each role's backend (see `glore.engine.loading`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from glore.engine.loading import GreedyEngine


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GLORE_", env_file=".env", extra="ignore")

    # Models and the pipeline
    models: str = "model_store/default"
    """Model store folder or spec file (model_store/default)."""
    device: str | None = None
    """Torch device for embedded models; None picks CUDA when present (None)."""
    dtype: str = Field("auto", pattern="^(auto|float32|bfloat16|float16)$")
    """Compute precision of embedded generators (auto: float32 on a CPU, bfloat16 on a GPU;
    auto, float32, bfloat16 or float16)."""
    scorer_dtype: str = Field("auto", pattern="^(auto|float32|bfloat16|float16)$")
    """The same for the embedded ORM and SORM; bfloat16 halves scoring time on CPUs with AMX
    (auto)."""
    greedy_engine: GreedyEngine = "auto"
    """What runs the embedded generators' greedy calls (every `glore` stage): torch, the
    reference; ct2, CTranslate2 on a CPU (the `ct2` extra; one question at a time 2.9-4.6x
    faster on an AMD 2-core CPU, 1.37x on an Intel one, slower there for 32 at once: README
    "Benchmarks"); auto, ct2 where the extra is installed
    and the generators are on a CPU, else torch. Sampled calls stay on torch (auto)."""
    max_batch_size: int = Field(64, ge=1, le=1024)
    """Sequences per embedded model batch (64; 1..1024)."""
    batch_wait_ms: float = Field(5.0, ge=0, le=1000)
    """How long the micro-batcher waits for company (5.0; 0..1000 ms)."""
    mode: str = Field("always", pattern="^(always|gated)$")
    """Default refinement mode (always; always or gated)."""
    tau_when: float = Field(0.5, ge=0, le=1)
    """Default ORM threshold of `gated` mode (0.5; 0..1)."""
    tau_where: float = Field(0.5, ge=0, le=1)
    """Default SORM threshold for the first error (0.5; 0..1)."""
    rerank_margin: float | None = Field(None, ge=0, le=1)
    """Default rerank margin; None takes the store's, chosen on validation (None; 0..1)."""
    rerank_floor: float | None = Field(None, ge=0, le=1)
    """Default rerank floor: a refinement scoring below it never replaces the draft; None
    takes the store's, chosen on validation (None; 0..1)."""
    abstain_below: float | None = Field(None, ge=0, le=1)
    """Default abstention threshold: an answer the ORM scores below it is marked `abstain`;
    None takes the store's, chosen on validation, 0 never abstains (None; 0..1)."""

    # Limits
    max_body_bytes: int = Field(1_000_000, ge=1024, le=100_000_000)
    """Largest request body (1 MB; 1 KiB..100 MB)."""
    max_question_chars: int = Field(2000, ge=1, le=100_000)
    """Longest question (2000; 1..100000)."""
    max_solution_chars: int = Field(8000, ge=1, le=100_000)
    """Longest solution sent to critique (8000; 1..100000)."""
    max_solution_steps: int = Field(64, ge=1, le=1000)
    """Most steps in a solution sent to critique (64; 1..1000)."""
    max_tokens: int = Field(256, ge=1, le=4096)
    """Most new tokens per generated solution (256; 1..4096)."""
    max_job_items: int = Field(10_000, ge=1, le=1_000_000)
    """Most items in one job (10000; 1..1000000)."""
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    """Time a connection has to send a whole request head, after connecting or after its
    previous response; then 408 and closed (10; (0, 300] s)."""
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    """Time to receive a whole request body once its head is in; then 408 (30; (0, 3600] s)."""
    keep_alive_s: int = Field(5, ge=1, le=300)
    """How long an idle keep-alive connection stays open (uvicorn's timeout_keep_alive;
    5; 1..300 s)."""
    max_connections: int = Field(1000, ge=1, le=100_000)
    """Open connections per server process; one more is answered 503 and closed at once
    (1000; 1..100000)."""
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    """Largest request head (h11's max incomplete event size; 16384; 1 KiB..1 MiB)."""
    max_in_flight: int = Field(64, ge=1, le=10_000)
    """Requests in the pipeline at once; more get 503 at once (64; 1..10000)."""
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    """Per-request time limit (60; (0, 3600] s)."""
    admit_within_s: float = Field(10.0, gt=0, le=3600)
    """A request is accepted only if, at the server's recent throughput, it would finish
    within this (capped at `request_timeout_s`); otherwise 503 with a Retry-After from that
    estimate, so an accepted request's wait stays bounded under overload (10; (0, 3600] s)."""

    @property
    def admission_bound_s(self) -> float:
        """`admit_within_s`, at most the request timeout: nothing admitted is bound to time
        out."""
        return min(self.admit_within_s, self.request_timeout_s)

    # Security
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Bearer keys; empty means no auth (JSON list or comma-separated; none)."""
    metrics_key: SecretStr | None = None
    """Bearer key that /metrics asks for; unset, /metrics is open, which suits the default
    bind on 127.0.0.1 (a scraper on the same host); set it before binding elsewhere (none)."""
    rate_limit_per_minute: int = Field(600, ge=1, le=1_000_000)
    """Requests per key per minute (600; 1..1000000)."""
    auth_failures_per_minute: int = Field(30, ge=1, le=100_000)
    """Wrong keys accepted per client address per minute (a burst of as many, refilled
    continuously); beyond it that address gets 429 with Retry-After, before its key is
    checked, while other addresses are served (30; 1..100000). Behind a reverse proxy, run
    uvicorn with --proxy-headers so the address is the client's, not the proxy's."""
    ready_timeout_s: float = Field(1.0, gt=0, le=30)
    """Time each /readyz check (Redis PING, a backend's /health) may take (1.0; (0, 30] s)."""

    # Jobs
    redis_url: str | None = "redis://127.0.0.1:6379/0"
    """Redis for jobs; empty disables the job routes (redis://127.0.0.1:6379/0)."""
    job_batch_size: int = Field(32, ge=1, le=1024)
    """Items a worker solves per engine batch (32; 1..1024)."""
    job_item_retries: int = Field(2, ge=0, le=10)
    """Retries of a failed item, with backoff, before it is recorded failed (2; 0..10)."""
    job_timeout_s: int = Field(3600, ge=10, le=86_400)
    """Longest a job may run (3600; 10..86400 s)."""
    job_heartbeat_s: int = Field(30, ge=1, le=3600)
    """A worker's job heartbeat; a silent job is taken over after this (30; 1..3600 s)."""
    result_ttl_s: int = Field(86_400, ge=60, le=30 * 86_400)
    """How long job results are kept (86400; 60..2592000 s)."""
    job_prefix: str = Field("glore", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    """Prefix of every job key in Redis (glore; 1..64 of A-Z a-z 0-9 _ . : -)."""
    job_retry_backoff_s: float = Field(1.0, ge=0, le=60)
    """First retry delay of a failed item; doubles per retry, at most 300 s (1.0; 0..60 s)."""
    job_max_takeovers: int = Field(3, ge=0, le=100)
    """Times a job whose worker went silent is taken over before it is failed (3; 0..100)."""
    job_poll_s: float = Field(0.5, gt=0, le=60)
    """How often an idle worker looks for a queued job (0.5; (0, 60] s)."""
    engine_factory: str | None = None
    """`module:function` that builds the engine (the gateway's and the worker's) from the
    settings, for tests and custom stacks; None loads `models` with `GLoRe.from_pretrained`
    (None)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """`GLORE_API_KEYS` as a JSON list or comma-separated; blanks are dropped."""
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
            return [str(k).strip() for k in items if str(k).strip()]
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """An empty `GLORE_REDIS_URL` disables Redis."""
        return None if isinstance(value, str) and not value.strip() else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
