"""An app under uvicorn in a daemon thread, on a free loopback port: what `glore bench
service` drives, and what the tests serve over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from service.connections import uvicorn_options
from service.settings import Settings


class LoopbackServer:
    """`app` under uvicorn (lifespan on) on 127.0.0.1, started when constructed."""

    def __init__(
        self, app: Any, *, start_timeout_s: float = 120.0, graceful_s: float = 10.0
    ) -> None:
        self.app = app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        state = getattr(getattr(app, "state", None), "glore", None)
        settings = getattr(state, "settings", None)
        options = uvicorn_options(settings) if isinstance(settings, Settings) else {}
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=int(graceful_s),
            **options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
