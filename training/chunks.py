"""Resumable work in chunks: each chunk's rows land in their own file, written atomically.

A killed run loses at most the chunks in flight; the next run skips the chunk files that
exist. Chunk seeds derive from the chunk index, so a resumed run writes the same rows.

`run_chunks_split` spreads the chunks over several spawned processes (chunk i to process
i mod P), each with its own work (its own generator) and its share of the CPU threads: on
a 2-core CPU two one-thread processes decode faster than one two-thread process, whose
decode step is bound by Python and small operations more than by its matmuls.

In a process, `in_flight` chunks may run at once, each in its own thread: generation goes
to one continuous-batching scheduler, so the next chunk's rows join the decode while the
last rows of the one before are finishing. A row's random draws depend on its seed, prompt
and sample index, not on its batch company, so this changes no output beyond the last
bits of a logit (see `glore.backends.embedded.generator`). The stages run one
(`IN_FLIGHT`, as measured).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from training.rundir import read_jsonl, write_jsonl

T = TypeVar("T")
Work = Callable[[Sequence[T], int], list[dict[str, Any]]]

IN_FLIGHT = 1
"""Chunks generating at once in a process (1). Two did not pay on this project's 2-core
machine (`glore bench rollouts`, its `in_flight` row; and three interleaved runs of the
bench's chunked path on 192 prefixes x K=8: 9.19-9.40 s one at a time, 9.24-10.82 s two
at once): a chunk of 32 prefixes x K=8 already fills the decode's 64 rows for most of its
length, and the second thread's Python competes with the scheduler's. A remote student
must stay at 1: its HTTP client belongs to one event loop, and so to one thread."""


def run_chunks(
    folder: Path,
    items: Sequence[T],
    size: int,
    work: Work[T],
    desc: str,
    *,
    in_flight: int = IN_FLIGHT,
) -> list[dict[str, Any]]:
    """Apply `work(chunk, chunk_index)` to each chunk of `items` not done yet, `in_flight`
    at a time; return all rows in order. The first failure is raised once the chunks
    running beside it end (their files are kept)."""
    do_chunks(folder, items, size, work, desc, in_flight=in_flight)
    return _rows(folder, len(range(0, len(items), size)))


def run_chunks_split(
    folder: Path,
    items: Sequence[T],
    size: int,
    make_work: Callable[[], Work[T]],
    desc: str,
    *,
    processes: int,
    threads: int,
    in_flight: int = IN_FLIGHT,
) -> list[dict[str, Any]]:
    """`run_chunks` over `processes` spawned processes of `threads` torch threads each;
    `make_work` (picklable) builds each process's work there. One process: in this one."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if processes == 1:
        return run_chunks(folder, items, size, make_work(), desc, in_flight=in_flight)
    spawn = multiprocessing.get_context("spawn")  # a forked torch can hang in OpenMP
    with spawn.Pool(processes) as pool:
        parts = [
            pool.apply_async(
                _Part(folder, items, size, make_work, desc, (p, processes), threads, in_flight)
            )
            for p in range(processes)
        ]
        for part in parts:
            part.get()  # a failing process's error, here
        pool.close()  # let the processes end rather than be terminated
        pool.join()
    return _rows(folder, len(range(0, len(items), size)))


@dataclass(frozen=True)
class _Part:
    """One process's share of `run_chunks_split` (pickled to it)."""

    folder: Path
    items: Sequence[Any]
    size: int
    make_work: Callable[[], Work[Any]]
    desc: str
    part: tuple[int, int]
    threads: int
    in_flight: int

    def __call__(self) -> None:
        import torch

        torch.set_num_threads(self.threads)
        label = f"{self.desc} [{self.part[0] + 1}/{self.part[1]}]"
        work = self.make_work()
        do_chunks(
            self.folder,
            self.items,
            self.size,
            work,
            label,
            in_flight=self.in_flight,
            part=self.part,
        )


def _rows(folder: Path, chunks: int) -> list[dict[str, Any]]:
    return [row for index in range(chunks) for row in read_jsonl(folder / f"{index:05d}.jsonl")]


def do_chunks(
    folder: Path,
    items: Sequence[T],
    size: int,
    work: Work[T],
    desc: str,
    *,
    in_flight: int = IN_FLIGHT,
    part: tuple[int, int] = (0, 1),
) -> None:
    """Write the chunk files not written yet, of the chunks whose index is `part[0]`
    modulo `part[1]`, `in_flight` at a time."""
    if in_flight < 1:
        raise ValueError(f"in_flight must be >= 1, got {in_flight}")
    folder.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(items), size)
    mine = [i for i in range(len(starts)) if i % part[1] == part[0]]
    todo = [i for i in mine if not (folder / f"{i:05d}.jsonl").exists()]

    def one(index: int) -> None:
        start = starts[index]
        write_jsonl(folder / f"{index:05d}.jsonl", work(items[start : start + size], index))

    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc=desc, unit="chunk")
    with bar, ThreadPoolExecutor(max_workers=in_flight) as pool:
        running: set[Future[None]] = set()
        for index in todo:
            if len(running) >= in_flight:
                running = _settle(running, bar)
            running.add(pool.submit(one, index))
        while running:
            running = _settle(running, bar)


def _settle(running: set[Future[None]], bar: Any) -> set[Future[None]]:
    """Wait for one chunk to end; raise its error (after the others end) if it failed."""
    done, pending = wait(running, return_when=FIRST_COMPLETED)
    bar.update(len(done))
    for future in done:
        if future.exception() is not None:
            wait(pending)
            future.result()
    return pending
