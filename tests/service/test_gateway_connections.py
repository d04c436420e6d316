"""Slow and stalled clients over real sockets: a head or body that does not come is cut
with 408, connections over the cap are refused with 503, all problem+json."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx

from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine


def _connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=10)


def _answer(sock: socket.socket) -> tuple[int, dict[str, object], float]:
    """Read until the server closes: (status, problem body, seconds it took)."""
    started = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head, data
    return int(head.split()[1]), json.loads(body), time.monotonic() - started


def test_a_stalled_head_or_body_is_cut_with_408(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, header_timeout_s=0.5, body_timeout_s=0.5)
    with _connect(live) as sock:
        sock.sendall(b"POST /v1/solve HTTP/1.1\r\nHost: x\r\n")  # and no more
        status, problem, took = _answer(sock)
    assert status == 408 and "0.5 s" in str(problem["detail"]) and took < 3
    with _connect(live) as sock:
        head = b"POST /v1/solve HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        sock.sendall(head + b"content-length: 100\r\n\r\n" + b'{"question": ')
        status, problem, took = _answer(sock)
    assert status == 408 and "body" in str(problem["detail"]) and took < 3
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION})
    assert r.status_code == 200  # a client that sends in time is served


def test_connections_over_the_cap_are_refused_until_some_close(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, max_connections=3, header_timeout_s=1)
    idle = [_connect(live) for _ in range(3)]
    try:
        with _connect(live) as extra:
            status, problem, _ = _answer(extra)
        assert status == 503 and "3 connections" in str(problem["detail"])
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # the server notices the closed sockets
        r = httpx.get(live.url + "/healthz")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200


def test_idle_connections_that_send_nothing_are_closed(serve: Callable[..., LiveServer]) -> None:
    """1,000 silent connections once held 1,012 descriptors without end."""
    live = serve(engine=scripted_engine(), redis_url=None, header_timeout_s=0.3)
    socks = [_connect(live) for _ in range(20)]
    try:
        for sock in socks:
            status, _, took = _answer(sock)
            assert status == 408 and took < 3
    finally:
        for sock in socks:
            sock.close()


def test_a_malformed_head_is_a_problem(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None)
    with _connect(live) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
        status, problem, _ = _answer(sock)
    assert status == 400 and "HTTP/1.1" in str(problem["detail"])
