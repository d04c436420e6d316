"""A solve whose stages are relayed as they finish, for routes that stream.

`relay_stages` takes the in-flight slot at once (a full server answers 503 before any
stream starts), runs the pipeline as a task that owns the slot and its deadline, and
returns an iterator of `(stage, payload)`: each stage the engine reports (`draft`, `orm`,
`sorm`, `global`, `local`, without the batch `index`), then one last item, `("final",
SolveResult)` or `("error", exception)`. A client that goes away cancels the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from glore.engine.glore import GLoRe
from service.bounds import bounded
from service.state import ServiceState

_DONE = "__done__"
_RUNNING: set[asyncio.Task[None]] = set()
"""Streamed pipeline runs: the loop holds tasks only weakly."""


def relay_stages(
    engine: GLoRe,
    state: ServiceState,
    question: str,
    strategy: str,
    options: dict[str, Any],
) -> AsyncIterator[tuple[str, Any]]:
    """Start the solve now; iterate its stages, then `final` (the result) or `error`."""
    state.gate.acquire()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_stage(stage: str, payload: dict[str, Any]) -> None:
        if stage != "final":  # the result itself ends the relay, below
            queue.put_nowait((stage, {k: v for k, v in payload.items() if k != "index"}))

    async def run() -> None:
        try:
            work = engine.asolve(question, strategy, on_stage=on_stage, **options)
            outcome: tuple[str, Any] = ("final", await bounded(state, work, slot_taken=True))
        except Exception as exc:
            outcome = ("error", exc)
        queue.put_nowait((_DONE, outcome))

    task = asyncio.create_task(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)

    async def stages() -> AsyncIterator[tuple[str, Any]]:
        try:
            while True:
                stage, data = await queue.get()
                if stage == _DONE:
                    yield data
                    return
                yield stage, data
        finally:
            if not task.done():
                task.cancel()

    return stages()


__all__ = ["relay_stages"]
