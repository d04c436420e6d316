"""`glore serve` on a real store, and graceful shutdown with requests in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from glore.cli import app as cli
from service.app import create_app
from service.limits import InFlight
from tests.service.gateway_live import (
    QUESTION,
    LiveServer,
    scripted_engine,
    settings,
    wait_until_answers,
)


def test_serve_is_a_glore_command() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--models"):
        assert option in result.output


def test_glore_serve_answers_on_the_real_store_and_stops_on_sigterm(real_store: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLORE_")}
    env["GLORE_REDIS_URL"] = ""  # Redis is optional
    command = [sys.executable, "-c", "from glore.cli import main; main()", "serve"]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--models", str(real_store), "--log-level", "info"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(proc, url, "/readyz")
        body = {"question": QUESTION, "strategy": "greedy", "options": {"max_tokens": 32}}
        r = httpx.post(url + "/v1/solve", json=body, timeout=60)
        assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    # uvicorn shuts down cleanly, then re-raises the signal so the exit status tells it.
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out and "Traceback" not in out, out


def test_shutdown_waits_for_requests_in_flight() -> None:
    live = LiveServer(create_app(settings(redis_url=None), scripted_engine(delay=1.0)))
    statuses: list[int] = []
    worker = threading.Thread(
        target=lambda: statuses.append(
            httpx.post(live.url + "/v1/solve", json={"question": QUESTION}, timeout=10).status_code
        )
    )
    worker.start()
    gate = live.app.state.glore.gate
    deadline = time.monotonic() + 5
    while gate.count == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    live.stop()  # as on SIGTERM: stop accepting, finish what is in flight
    worker.join()
    assert statuses == [200] and gate.count == 0


def test_drain_waits_for_the_last_release() -> None:
    async def main() -> None:
        gate = InFlight(2)
        gate.acquire()
        asyncio.get_running_loop().call_later(0.05, gate.release)
        assert await gate.drain(5)
        gate.acquire()
        assert not await gate.drain(0.01)
        gate.release()  # the in-flight gauge is process-wide

    asyncio.run(main())
