"""A `JobWorker` on its own event loop in a thread: for benchmarks and tests that run a
worker beside a gateway in one process (`glore worker` is the production entry point)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from glore.engine.glore import GLoRe
from service.jobs.worker import JobWorker
from service.settings import Settings


class WorkerThread:
    """`start()` runs the worker; `stop()` asks it to stop (held jobs are handed back),
    waits, and re-raises whatever ended the worker with an error."""

    def __init__(self, settings: Settings, engine: GLoRe, **worker_kwargs: Any) -> None:
        self.settings, self.engine, self.worker_kwargs = settings, engine, worker_kwargs
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def run() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            worker = JobWorker(self.settings, self.engine, **self.worker_kwargs)
            self.ready.set()
            try:
                await worker.run(self.stop_event)
            finally:
                await worker.aclose()

        try:
            asyncio.run(run())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def start(self, timeout_s: float = 30.0) -> Self:
        self.thread.start()
        self.ready.wait(timeout_s)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.loop is not None and self.stop_event is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout_s)
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
