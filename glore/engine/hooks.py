"""An optional hook the pipeline calls as each stage finishes, so a caller can stream them.

`on_stage(stage, payload)` is called, in order, with `draft`, `orm`, `sorm`, then (when a
draft is refined) `global` and `local`, then `final`: one call per question and stage,
each payload holding that question's `index` in the batch. The hook may be a plain or an
async function; an exception it raises stops the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

StageHook = Callable[[str, dict[str, Any]], Awaitable[None] | None]
"""`(stage, payload) -> None`, sync or async."""


async def emit(hook: StageHook | None, stage: str, payload: dict[str, Any]) -> None:
    """Call `hook` (when there is one) and await it when it returned an awaitable."""
    if hook is None:
        return
    out = hook(stage, payload)
    if inspect.isawaitable(out):
        await out


__all__ = ["StageHook", "emit"]
