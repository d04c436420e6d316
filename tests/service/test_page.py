"""GET / and its static files over HTTP (no browser): what is served, with which headers,
and that the page loads nothing the server does not serve."""

from __future__ import annotations

import re

import httpx
import pytest

from service.routes.page import FILES, STATIC
from tests.service.gateway_live import LiveServer


@pytest.fixture
def live(serve) -> LiveServer:  # type: ignore[no-untyped-def]
    return serve(models="unused", redis_url=None)


def test_the_page_is_html_with_a_strict_policy(live: LiveServer) -> None:
    r = httpx.get(live.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script" in r.text and 'type="module"' in r.text


def test_every_file_the_page_loads_is_served(live: LiveServer) -> None:
    html = (STATIC / "index.html").read_text()
    loaded = set(re.findall(r'(?:src|href)="/static/([^"]+)"', html))
    for name in FILES:
        if name.endswith(".js"):  # module imports: `from "./api.js"`
            loaded |= set(re.findall(r'from "\./([^"]+)"', (STATIC / name).read_text()))
    assert loaded and loaded <= set(FILES), loaded - set(FILES)
    for name in loaded:
        r = httpx.get(f"{live.url}/static/{name}")
        assert r.status_code == 200 and r.content == (STATIC / name).read_bytes()
        assert r.headers["content-type"].split(";")[0] == FILES[name].split(";")[0]


def test_no_path_outside_the_list_is_served(live: LiveServer) -> None:
    for name in ("index.html", "nope.js", "..%2Fapp.py", "%2e%2e%2fsettings.py"):
        r = httpx.get(f"{live.url}/static/{name}")
        assert r.status_code == 404, name
        assert r.headers["content-type"] == "application/problem+json"
        if "%" not in name:  # a decoded slash matches no route at all
            assert "page.js" in r.json()["detail"]


def test_the_page_is_not_an_api_operation(live: LiveServer) -> None:
    paths = httpx.get(live.url + "/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


def test_the_page_needs_no_key_but_the_api_does(serve) -> None:  # type: ignore[no-untyped-def]
    live = serve(models="unused", redis_url=None, api_keys=["page-test-key"])
    assert httpx.get(live.url + "/").status_code == 200
    assert httpx.get(live.url + "/static/page.js").status_code == 200
    r = httpx.post(live.url + "/v1/critique", json={"question": "q", "solution": "s"})
    assert r.status_code == 401
