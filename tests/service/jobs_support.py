"""What the job tests share: scripted engines (also built in worker subprocesses through
`GLORE_ENGINE_FACTORY=tests.service.jobs_support:make_engine`), a uvicorn server in a
thread, an in-process worker in a thread, and a private `redis-server`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI

from bench import worker_thread as thread
from bench.loopback import LoopbackServer
from glore.backends.base import Completion, SamplingParams
from glore.engine.glore import GLoRe
from glore.engine.steps import Models
from glore.errors import BackendError
from service.jobs.store import delete_prefix as clean_prefix
from service.settings import Settings
from tests.glore.engine.scripted import ScriptedScorer

_MARK = re.compile(r"\[q(\d+)\]")


def question(n: int, extra: str = "") -> str:
    """A question whose scripted answer is `n` (the marker tells the engine which)."""
    return f"What is {n} plus 0? [q{n}]{extra}"


def solution(prompt: str) -> str:
    marks = _MARK.findall(prompt)
    n = int(marks[-1]) if marks else 0
    return f"We add: {n} + 0 = <<{n}+0={n}>>{n}.\n#### {n}"


class ScriptedStudent:
    """Answers each question with its marker's number; optionally slow, or failing for
    questions that contain a word (`fail_on`) for the first `fail_times` calls with it."""

    def __init__(
        self,
        delay_s: float = 0.0,
        fail_on: str | None = None,
        fail_times: int = 1_000_000,
        error: Callable[[], Exception] = lambda: BackendError("scripted backend failure"),
    ) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.fail_times = fail_times
        self.error = error
        self.calls: list[tuple[float, list[str]]] = []
        self.failures = 0

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        self.calls.append((time.monotonic(), list(prompts)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        failing = self.fail_on is not None and any(self.fail_on in p for p in prompts)
        if failing and self.failures < self.fail_times:
            self.failures += 1
            raise self.error()
        return [[Completion(solution(p), 5, "stop") for _ in range(params.n)] for p in prompts]


class ScriptedRefiner:
    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        return [[Completion(solution(p), 5, "stop") for _ in range(params.n)] for p in prompts]


def engine(student: ScriptedStudent | None = None) -> GLoRe:
    def confident(_: str, steps: Sequence[str]) -> list[float]:
        return [0.9] * len(steps)

    return GLoRe(
        Models(
            student or ScriptedStudent(),
            ScriptedScorer(confident),
            ScriptedScorer(confident),
            ScriptedRefiner(),
            ScriptedRefiner(),
        )
    )


def make_engine(settings: Settings) -> GLoRe:
    """The worker subprocesses' engine: `GLORE_TEST_DELAY_S` seconds per student batch."""
    return engine(ScriptedStudent(delay_s=float(os.environ.get("GLORE_TEST_DELAY_S", "0"))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port; -> its base URL."""
    server = LoopbackServer(app, start_timeout_s=10)
    try:
        yield server.url
    finally:
        server.stop(10)


class WorkerThread(thread.WorkerThread):
    """The service's worker thread, with the tests' short start-up wait and a check that
    the worker really stopped."""

    def start(self, timeout_s: float = 10.0) -> WorkerThread:
        return super().start(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        try:
            super().stop(timeout_s)
        finally:
            assert not self.thread.is_alive(), "the worker did not stop"


REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis() -> None:
    """Skip, saying why, when the machine's Redis does not answer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one)")


@contextlib.contextmanager
def job_settings(**overrides: Any) -> Iterator[Settings]:
    """Settings for one test: its own key prefix (removed afterwards), fast heartbeats."""
    prefix = f"test:jobs:{uuid.uuid4().hex[:12]}"
    yield Settings(
        redis_url=REDIS_URL,
        job_prefix=prefix,
        job_heartbeat_s=1,
        job_poll_s=0.02,
        job_retry_backoff_s=0.01,
        api_keys=[],
        **overrides,
    )
    clean_prefix(REDIS_URL, prefix)


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A private `redis-server` with an append-only file in `tmp`; -> its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        import pytest

        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "",
         "--appendonly", "yes", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(check: Callable[[], Any], timeout_s: float = 10, poll_s: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy; -> that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {check}")
        time.sleep(poll_s)
