"""Chunked stage work: chunks run `in_flight` at a time, rows come back in chunk order, a
resumed run skips the chunk files that exist, and a failing chunk fails the call while the
chunks that ended keep their files."""

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from training.chunks import do_chunks, run_chunks, run_chunks_split


def _rows(chunk: Sequence[int], index: int) -> list[dict[str, int]]:
    return [{"item": x, "chunk": index} for x in chunk]


def test_chunks_overlap_and_rows_keep_their_order(tmp_path: Path) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(chunk: Sequence[int], index: int) -> list[dict[str, int]]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05 if index % 2 == 0 else 0.01)  # even chunks end after odd ones
        with lock:
            running -= 1
        return _rows(chunk, index)

    rows = run_chunks(tmp_path, list(range(10)), 3, work, "test", in_flight=2)
    assert [r["item"] for r in rows] == list(range(10))
    assert [r["chunk"] for r in rows] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert most == 2
    serial = run_chunks(tmp_path / "one", list(range(10)), 3, _rows, "test", in_flight=1)
    assert serial == rows


def test_a_resumed_run_skips_finished_chunks(tmp_path: Path) -> None:
    run_chunks(tmp_path, list(range(6)), 2, _rows, "test")
    (tmp_path / "00001.jsonl").unlink()
    calls: list[int] = []

    def work(chunk: Sequence[int], index: int) -> list[dict[str, int]]:
        calls.append(index)
        return _rows(chunk, index)

    rows = run_chunks(tmp_path, list(range(6)), 2, work, "test")
    assert calls == [1] and [r["item"] for r in rows] == list(range(6))


def test_a_failing_chunk_fails_the_call_and_finished_chunks_stay(tmp_path: Path) -> None:
    def work(chunk: Sequence[int], index: int) -> list[dict[str, int]]:
        if index == 1:
            raise RuntimeError("chunk 1 broke")
        time.sleep(0.02)
        return _rows(chunk, index)

    with pytest.raises(RuntimeError, match="chunk 1 broke"):
        run_chunks(tmp_path, list(range(8)), 2, work, "test", in_flight=2)
    assert (tmp_path / "00000.jsonl").is_file() and not (tmp_path / "00001.jsonl").exists()
    with pytest.raises(ValueError, match="in_flight"):
        run_chunks(tmp_path, [1], 1, _rows, "test", in_flight=0)


def test_a_part_writes_only_its_chunks_and_split_checks_its_processes(tmp_path: Path) -> None:
    do_chunks(tmp_path, list(range(10)), 2, _rows, "test", part=(1, 2))
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["00001.jsonl", "00003.jsonl"]
    rows = run_chunks_split(
        tmp_path, list(range(10)), 2, lambda: _rows, "t", processes=1, threads=1
    )
    assert [r["item"] for r in rows] == list(range(10))  # one process: the rest, here
    with pytest.raises(ValueError, match="processes"):
        run_chunks_split(tmp_path, [1], 1, lambda: _rows, "test", processes=0, threads=1)
