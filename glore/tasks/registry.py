"""Task lookup by name, with the arguments each kind of task needs."""

from __future__ import annotations

from pathlib import Path

from glore.errors import InvalidInputError
from glore.tasks.base import Task

TASK_NAMES = ("arith", "gsm8k", "svamp")


def get_task(name: str, *, path: str | Path | None = None, seed: int = 0) -> Task:
    """The task called `name`. `arith` is generated from `seed`; `gsm8k` and `svamp` read
    `path` (a file, or for GSM8K a folder of `*.jsonl` splits)."""
    if name == "arith":
        from glore.tasks.arith import ArithTask

        return ArithTask(seed=seed)
    if name in ("gsm8k", "svamp"):
        if path is None:
            raise InvalidInputError(f"task {name!r} reads a dataset file: pass its path")
        if name == "gsm8k":
            from glore.tasks.gsm8k import Gsm8kTask

            return Gsm8kTask(Path(path))
        from glore.tasks.svamp import SvampTask

        return SvampTask(Path(path))
    raise InvalidInputError(f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)}")
