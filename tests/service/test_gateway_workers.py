"""`glore serve --workers 2`: two uvicorn processes, one /metrics that counts for both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.jobs_support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _healthz_count(text: str) -> float:
    pattern = r'^glore_http_requests_total\{[^}]*route="/healthz"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))


def test_metrics_merge_every_worker_process() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLORE_", "PROMETHEUS_"))}
    env["GLORE_REDIS_URL"] = ""
    cmd = [sys.executable, "-m", "glore", "serve", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    answered = 0
    try:
        deadline = time.monotonic() + 120
        while answered == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
            try:
                answered += httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=5) as http:
            for _ in range(20):
                # New connections, so the kernel spreads them over both workers.
                answered += httpx.get(url + "/healthz", timeout=5).status_code == 200
            seen = {_healthz_count(http.get("/metrics").text) for _ in range(6)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    # Every scrape, whichever worker answers it, counts the requests both workers served.
    assert seen == {answered}
