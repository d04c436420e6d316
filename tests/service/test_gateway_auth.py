"""API keys and the per-key rate limit, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from service.limits import RateLimiter
from service.settings import Settings
from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine
from tests.service.test_gateway_limits import assert_problem

KEYS = ["k-alpha-0123456789", "k-beta-0123456789"]


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(engine=scripted_engine(), redis_url=None, api_keys=KEYS)


def _solve(live: LiveServer, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(live.url + "/v1/solve", json={"question": QUESTION}, headers=headers)


def test_no_key_or_a_wrong_key_is_401_with_www_authenticate(live: LiveServer) -> None:
    for key in (None, "k-wrong", KEYS[0] + "x"):
        r = _solve(live, key)
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert KEYS[0] not in r.text
    r = httpx.post(
        live.url + "/v1/critique",
        json={"question": QUESTION, "solution": "1"},
        headers={"Authorization": f"Basic {KEYS[0]}"},
    )
    assert_problem(r, 401)


def test_either_right_key_is_served(live: LiveServer) -> None:
    for key in KEYS:
        assert _solve(live, key).status_code == 200


def test_health_and_metrics_need_no_key(live: LiveServer) -> None:
    assert httpx.get(live.url + "/healthz").status_code == 200
    assert httpx.get(live.url + "/metrics").status_code == 200


def test_keys_come_from_the_environment_as_a_list_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLORE_API_KEYS", " a1, b2 ,")
    assert [k.get_secret_value() for k in Settings(_env_file=None).api_keys] == ["a1", "b2"]  # type: ignore[call-arg]
    monkeypatch.setenv("GLORE_API_KEYS", '["a1"]')
    assert [k.get_secret_value() for k in Settings(_env_file=None).api_keys] == ["a1"]  # type: ignore[call-arg]
    assert "a1" not in repr(Settings(_env_file=None))  # type: ignore[call-arg]


def test_each_key_has_its_own_rate_limit_with_retry_after(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, api_keys=KEYS, rate_limit_per_minute=2)
    assert [_solve(live, KEYS[0]).status_code for _ in range(2)] == [200, 200]
    r = _solve(live, KEYS[0])
    body = assert_problem(r, 429)
    assert 1 <= int(r.headers["retry-after"]) <= 30 and "2 requests per minute" in body["detail"]
    assert _solve(live, KEYS[1]).status_code == 200  # another key's budget is its own
    assert _solve(live, None).status_code == 401  # no key is refused before it is counted


def test_without_keys_the_limit_is_per_client_address(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, rate_limit_per_minute=1)
    assert _solve(live, None).status_code == 200
    assert_problem(_solve(live, None), 429)


def test_the_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one token a second, 60 at most
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("k") == 0 and limiter.take("other") == 0


def test_jobs_belong_to_the_api_key_that_sent_them(serve: Callable[..., LiveServer]) -> None:
    """Two tenants who pick the same idempotency key get two jobs; neither can read, page
    or cancel the other's (a 404, as for a job that does not exist)."""
    from tests.service.jobs_support import REDIS_URL, clean_prefix, require_redis

    require_redis()
    prefix = "test:tenants:" + KEYS[0][-6:]
    live = serve(engine=scripted_engine(), redis_url=REDIS_URL, job_prefix=prefix, api_keys=KEYS)
    body = {"items": [{"question": QUESTION}], "idempotency_key": "nightly-run"}
    alpha, beta = ({"Authorization": f"Bearer {k}"} for k in KEYS)
    try:
        with httpx.Client(base_url=live.url) as http:
            ids = []
            for headers in (alpha, beta, alpha):
                r = http.post("/v1/jobs", json=body, headers=headers)
                assert r.status_code == 202, r.text
                ids.append((r.json()["job_id"], r.json()["replayed"]))
            (a, a_replayed), (b, b_replayed), (again, again_replayed) = ids
            assert a != b and not a_replayed and not b_replayed
            assert again == a and again_replayed
            for path in (f"/v1/jobs/{a}", f"/v1/jobs/{a}/results"):
                assert http.get(path, headers=alpha).status_code == 200
                assert_problem(http.get(path, headers=beta), 404)
            assert_problem(http.delete(f"/v1/jobs/{a}", headers=beta), 404)
            assert http.get(f"/v1/jobs/{a}", headers=alpha).json()["state"] == "queued"
            assert http.delete(f"/v1/jobs/{a}", headers=alpha).json()["state"] == "cancelled"
    finally:
        clean_prefix(REDIS_URL, prefix)


def test_failed_keys_are_throttled_per_client_address(serve: Callable[..., LiveServer]) -> None:
    """Three wrong keys from one address, then 429 there, before any key is checked (a
    right guess learns nothing); another address with a valid key is served as before."""
    live = serve(
        engine=scripted_engine(), redis_url=None, api_keys=KEYS, auth_failures_per_minute=3
    )
    body = {"question": QUESTION}
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with other, httpx.Client() as here:

        def solve(http: httpx.Client, key: str) -> httpx.Response:
            auth = {"Authorization": f"Bearer {key}"}
            return http.post(live.url + "/v1/solve", json=body, headers=auth)

        assert [solve(other, f"guess-{i}").status_code for i in range(3)] == [401] * 3
        r = solve(other, "guess-3")
        problem = assert_problem(r, 429)
        assert "3 wrong keys per minute" in problem["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert_problem(solve(other, KEYS[0]), 429)  # that address waits, whatever it sends
        assert solve(here, KEYS[0]).status_code == 200  # a valid key elsewhere is served
        assert_problem(solve(here, "guess"), 401)  # and this address has its own budget


def test_metrics_ask_for_the_metrics_key_when_it_is_set(serve: Callable[..., LiveServer]) -> None:
    metrics_key = "m-scrape-0123456789"
    live = serve(engine=scripted_engine(), redis_url=None, api_keys=KEYS, metrics_key=metrics_key)
    url = live.url + "/metrics"
    assert "Authorization: Bearer" in assert_problem(httpx.get(url), 401)["detail"]
    for wrong in ("m-wrong", KEYS[0]):  # an API key is not the metrics key
        assert_problem(httpx.get(url, headers={"Authorization": f"Bearer {wrong}"}), 401)
    r = httpx.get(url, headers={"Authorization": f"Bearer {metrics_key}"})
    assert r.status_code == 200 and "glore_http_requests_total" in r.text
    assert httpx.get(live.url + "/healthz").status_code == 200  # probes stay open
