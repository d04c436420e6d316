"""Backend coroutines from synchronous code (the library's sync methods, training stages)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from glore.errors import InvalidInputError

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end on a new event loop; refused inside a running loop, where the
    caller must await it instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise InvalidInputError("called a sync GLoRe method inside an event loop; await the a-method")
