"""Resumable work in chunks: each chunk's rows land in their own file, written atomically.

A killed run loses at most the chunks in flight; the next run skips the chunk files that
exist. Chunk seeds derive from the chunk index, so a resumed run writes the same rows.

`IN_FLIGHT` chunks run at once, each in its own thread: generation goes to one
continuous-batching scheduler (or one server), so the next chunk's rows join the decode
while the last rows of the one before are finishing, instead of the decode thinning out to
a few rows at every chunk's end. A row's random draws depend on its seed, prompt and
sample index, not on its batch company, so this changes no output beyond the last bits
of a logit (see `glore.backends.embedded.generator`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from training.rundir import read_jsonl, write_jsonl

T = TypeVar("T")

IN_FLIGHT = 2
"""Chunks generating at once (2: enough to keep the decode full across a chunk's tail)."""


def run_chunks(
    folder: Path,
    items: Sequence[T],
    size: int,
    work: Callable[[Sequence[T], int], list[dict[str, Any]]],
    desc: str,
    *,
    in_flight: int = IN_FLIGHT,
) -> list[dict[str, Any]]:
    """Apply `work(chunk, chunk_index)` to each chunk of `items` not done yet, `in_flight`
    at a time; return all rows in order. The first failure is raised once the chunks
    running beside it end (their files are kept)."""
    if in_flight < 1:
        raise ValueError(f"in_flight must be >= 1, got {in_flight}")
    folder.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(items), size)
    todo = [i for i in range(len(starts)) if not (folder / f"{i:05d}.jsonl").exists()]

    def one(index: int) -> None:
        start = starts[index]
        write_jsonl(folder / f"{index:05d}.jsonl", work(items[start : start + size], index))

    bar = tqdm(total=len(starts), initial=len(starts) - len(todo), desc=desc, unit="chunk")
    with bar, ThreadPoolExecutor(max_workers=in_flight) as pool:
        running: set[Future[None]] = set()
        for index in todo:
            if len(running) >= in_flight:
                running = _settle(running, bar)
            running.add(pool.submit(one, index))
        while running:
            running = _settle(running, bar)
    return [
        row for index in range(len(starts)) for row in read_jsonl(folder / f"{index:05d}.jsonl")
    ]


def _settle(running: set[Future[None]], bar: Any) -> set[Future[None]]:
    """Wait for one chunk to end; raise its error (after the others end) if it failed."""
    done, pending = wait(running, return_when=FIRST_COMPLETED)
    bar.update(len(done))
    for future in done:
        if future.exception() is not None:
            wait(pending)
            future.result()
    return pending
