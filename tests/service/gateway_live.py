"""The gateway under test: uvicorn on a free loopback port (real HTTP), and scripted
engines for the tests about HTTP behaviour (timing, limits, errors)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench.loopback import LoopbackServer
from glore.backends.base import Completion, SamplingParams
from glore.engine.glore import GLoRe
from glore.engine.steps import Models
from service.settings import Settings
from tests.glore.engine.scripted import ScriptedGenerator, ScriptedScorer

QUESTION = (
    "Mia has 3 apples. Mia buys 4 more apples. Mia eats 2 apples. "
    "How many apples does Mia have now?"
)
DRAFT = "Mia now has 3 + 4 = <<3+4=7>>7 apples.\nMia now has 7 - 2 = <<7-2=4>>4 apples.\n#### 4"
FIXED = "Mia now has 7 - 2 = <<7-2=5>>5 apples.\n#### 5"


def settings(**overrides: Any) -> Settings:
    """Settings from the defaults and `overrides` only (no environment, no .env file)."""
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


class LiveServer(LoopbackServer):
    """The service's loopback server with the tests' shorter waits."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, start_timeout_s=30, graceful_s=5)

    def stop(self, timeout_s: float = 10) -> None:
        super().stop(timeout_s)


class SlowGenerator:
    """A generator that takes `delay` seconds (on the event loop, as a remote one would)."""

    def __init__(self, text: str, delay: float) -> None:
        self.text, self.delay = text, delay
        self.calls = 0

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return [[Completion(self.text, 5, "stop") for _ in range(params.n)] for _ in prompts]


def _sorm(_: str, steps: Sequence[str]) -> list[float]:
    ok, out = True, []
    for s in steps:
        ok = ok and "=4>>" not in s and s != "#### 4"
        out.append(0.9 if ok else 0.1)
    return out


def _orm(_: str, steps: Sequence[str]) -> list[float]:
    return [0.8 if steps[-1] == "#### 5" else 0.3] * len(steps)


class RaisingGenerator:
    """A generator that raises `error` (a backend failure, or a bug)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        raise self.error


def scripted_engine(delay: float = 0.0, *, refine_delay: float = 0.0, student: Any = None) -> GLoRe:
    """A GLoRe whose draft is wrong at step 2 and whose local refinement fixes it; the
    student takes `delay` seconds, the global refiner `refine_delay`. Given a written
    prefix (an exact repair), the student finishes it with `#### 5`."""
    if student is None:
        student = (
            SlowGenerator(DRAFT, delay)
            if delay
            else ScriptedGenerator(lambda p: DRAFT if p.endswith("Answer:\n") else "#### 5")
        )
    refiner: Any = (
        SlowGenerator(DRAFT, refine_delay) if refine_delay else ScriptedGenerator(lambda p: DRAFT)
    )
    return GLoRe(
        Models(
            student,
            ScriptedScorer(_orm),
            ScriptedScorer(_sorm),
            refiner,
            ScriptedGenerator(lambda p: FIXED),
            versions={r: f"scripted/{r}" for r in ("student", "orm", "sorm", "global", "local")},
        )
    )


def wait_until_answers(proc: Any, url: str, path: str, timeout_s: float = 120.0) -> None:
    """Poll `url + path` until it answers 200, failing fast if `proc` (a `glore serve`
    subprocess) exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            if httpx.get(url + path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"glore serve did not answer {path}"
        time.sleep(0.2)
