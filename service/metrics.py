"""Prometheus metrics of the gateway and the job worker (one registry: the default one).

The job worker increments `JOB_OUTCOMES` and sets `QUEUE_DEPTH`; the gateway the rest. With
several uvicorn workers (`glore serve --workers N`) each process writes its values under
PROMETHEUS_MULTIPROC_DIR, which `glore serve` sets, and /metrics merges them (`registry`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glore.engine.glore import GLoRe
from glore.engine.result import SolveResult

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter(
    "glore_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "glore_http_request_duration_seconds",
    "Time to answer an HTTP request (a stream: until its last event).",
    ["route", "method", "status"],
    buckets=_SECONDS,
)
IN_FLIGHT = Gauge(
    "glore_in_flight_requests",
    "Pipeline runs (solve, critique) in progress.",
    multiprocess_mode="livesum",
)
STAGE_LATENCY = Histogram(
    "glore_stage_duration_seconds",
    "Wall time of a pipeline stage (draft, orm, sorm, global, local) per solve.",
    ["stage"],
    buckets=_SECONDS,
)
TOKENS = Counter("glore_tokens_total", "Tokens generated, per stage.", ["stage"])
SOLVES = Counter(
    "glore_solves_total",
    "Solved questions by strategy, whether refined (refine rate: refined=true / all), "
    "and whether degraded.",
    ["strategy", "refined", "degraded"],
)
WINNERS = Counter(
    "glore_winner_total",
    "Which candidate the ORM picked (draft, global, local, sample).",
    ["strategy", "winner"],
)
CRITIQUES = Counter(
    "glore_critiques_total", "Critiques, by reveal and whether an error was found.",
    ["reveal", "found_error"],
)  # fmt: skip
JOB_OUTCOMES = Counter(
    "glore_job_outcomes_total", "Finished jobs or items by outcome (the job worker's).",
    ["outcome"],
)  # fmt: skip
QUEUE_DEPTH = Gauge(
    "glore_queue_depth", "Jobs waiting in the queue (the job worker's).", multiprocess_mode="max"
)
PREFIX_QUERIES = Counter(
    "glore_prefix_cache_queries_total",
    "Tokens an embedded ORM or SORM looked up in its prefix cache.",
    ["role"],
)
PREFIX_HITS = Counter(
    "glore_prefix_cache_hits_total",
    "Tokens an embedded ORM or SORM found in its prefix cache (hit rate: hits / queries).",
    ["role"],
)


def registry() -> CollectorRegistry:
    """What /metrics reports: this process's metrics, or with PROMETHEUS_MULTIPROC_DIR set
    (several uvicorn workers), every worker's merged."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


_ROUND = re.compile(r"-\d+$")


def record_solve(result: SolveResult) -> None:
    for stage, cost in result.stages.items():
        STAGE_LATENCY.labels(stage).observe(cost.seconds)
        if cost.tokens:
            TOKENS.labels(stage).inc(cost.tokens)
    SOLVES.labels(result.strategy, str(result.refined).lower(), str(result.degraded).lower()).inc()
    WINNERS.labels(result.strategy, _ROUND.sub("", result.winner)).inc()


def record_critique(reveal: str, found_error: bool) -> None:
    CRITIQUES.labels(reveal, str(found_error).lower()).inc()


def watch_prefix_caches(engine: GLoRe) -> None:
    """Count every prefix-cache lookup of the engine's embedded scorers (remote ones have
    none: vLLM reports its own), labelled by the roles that use the cache: `orm+sorm` where
    the SORM shares the ORM's model and cache (`EmbeddedScorer.sibling`)."""
    roles: dict[int, list[str]] = {}
    caches: dict[int, Any] = {}
    for role in ("orm", "sorm"):
        cache = getattr(getattr(engine.models, role), "cache", None)
        if cache is not None:
            roles.setdefault(id(cache), []).append(role)
            caches[id(cache)] = cache
    for key, cache in caches.items():
        cache.listeners.append(_lookup_counter("+".join(roles[key])))


def _lookup_counter(role: str) -> Callable[[int, int], None]:
    queries, hits = PREFIX_QUERIES.labels(role), PREFIX_HITS.labels(role)

    def count(tokens: int, found: int) -> None:
        queries.inc(tokens)
        hits.inc(found)

    return count


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path), method, status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            labels = (path, scope.get("method", ""), str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


__all__ = [
    "CRITIQUES",
    "IN_FLIGHT",
    "JOB_OUTCOMES",
    "LATENCY",
    "QUEUE_DEPTH",
    "REQUESTS",
    "SOLVES",
    "STAGE_LATENCY",
    "TOKENS",
    "WINNERS",
    "MetricsMiddleware",
    "record_critique",
    "record_solve",
    "watch_prefix_caches",
]
