"""`glore bench ct2` on a small batch: the report's shape, and the same greedy text as the
embedded loop. Skips where CTranslate2 (the `ct2` extra) is not installed, as in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ctranslate2", reason="CTranslate2 is the optional `ct2` extra")

from bench.ctranslate2 import bench_ct2, format_ct2

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


def test_bench_ct2_tiny() -> None:
    report = bench_ct2(str(STORE), n=8, max_tokens=64)
    for name in ("greedy", "sampled"):
        assert set(report[name]) == {"ours", "ct2_float32", "ct2_int8"}
        assert report[name]["ours"]["speedup"] == 1.0
        assert all(v["tokens"] > 0 and v["seconds"] > 0 for v in report[name].values())
    same, total = map(int, report["greedy_same_text"].split("/"))
    assert total == 8 and same >= 7  # the same model decoded greedily
    assert "ct2_int8" in format_ct2(report)
