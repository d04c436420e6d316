"""Resumable work in chunks: each chunk's rows land in their own file, written atomically.

A killed run loses at most the chunk in flight; the next run skips the chunk files that
exist. Chunk seeds derive from the chunk index, so a resumed run writes the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from training.rundir import read_jsonl, write_jsonl

T = TypeVar("T")


def run_chunks(
    folder: Path,
    items: Sequence[T],
    size: int,
    work: Callable[[Sequence[T], int], list[dict[str, Any]]],
    desc: str,
) -> list[dict[str, Any]]:
    """Apply `work(chunk, chunk_index)` to each chunk of `items` not done yet; return all
    rows in order."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(items), size)
    for index, start in enumerate(tqdm(starts, desc=desc, unit="chunk")):
        path = folder / f"{index:05d}.jsonl"
        if not path.exists():
            write_jsonl(path, work(items[start : start + size], index))
    return [
        row for index in range(len(starts)) for row in read_jsonl(folder / f"{index:05d}.jsonl")
    ]
