"""A key in the URL: refused with 400, and never written to `glore serve`'s access log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import httpx

from service.url_secrets import API_QUERY
from tests.service.gateway_live import LiveServer, scripted_engine, wait_until_answers
from tests.service.jobs_support import free_port
from tests.service.test_gateway_limits import assert_problem

KEY = "k-secret-5c1e58f0123456789"


def _serve(port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLORE_")}
    # No models: a request is answered (401, 400, 404) without them.
    env.update(GLORE_REDIS_URL="", GLORE_API_KEYS=KEY, GLORE_MODELS="/nonexistent/store")
    command = [sys.executable, "-c", "from glore.cli import main; main()", "serve"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_key_in_the_query_is_refused_and_never_logged() -> None:
    port = free_port()
    proc = _serve(port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(proc, url, "/healthz")
        for name in ("api_key", "token", "access_token", "key"):
            r = httpx.post(f"{url}/v1/solve?{name}={KEY}", json={"question": "1 + 1?"})
            assert "Authorization: Bearer" in assert_problem(r, 400)["detail"]
        r = httpx.get(f"{url}/v1/models?api_key={KEY}")  # OpenAI's shape on its routes
        assert r.status_code == 400 and "Authorization: Bearer" in r.json()["error"]["message"]
        # Names that do not look like credentials pass, but their values are not logged.
        assert_problem(httpx.get(f"{url}/v1/nothing?k={KEY}"), 404)
        assert_problem(httpx.get(f"{url}/v1/jobs/x/results?offset=3&q={KEY}"), 401)
        assert_problem(httpx.get(f"{url}/healthz?{KEY}"), 400)  # a bare key: 'key' is in it
    finally:
        proc.send_signal(signal.SIGTERM)
        log = proc.communicate(timeout=30)[0]
    assert KEY not in log, log
    assert "GET /v1/jobs/x/results?offset=3&q=[redacted] HTTP/1.1" in log, log
    assert "POST /v1/solve?api_key=[redacted] HTTP/1.1" in log, log


def test_the_log_keeps_every_query_parameter_the_api_defines(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(engine=scripted_engine(), redis_url=None)
    doc = httpx.get(live.url + "/openapi.json").json()
    names = {
        p["name"]
        for path in doc["paths"].values()
        for op in path.values()
        for p in op.get("parameters", [])
        if p["in"] == "query"
    }
    assert names and names <= API_QUERY
