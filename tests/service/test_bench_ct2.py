"""`glore bench ct2` on a small batch: the report's shape, and the same greedy text as the
embedded loop. Skips where CTranslate2 (the `ct2` extra) is not installed, as in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ctranslate2", reason="CTranslate2 is the optional `ct2` extra")

from bench.ctranslate2 import bench_ct2, format_ct2

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


def test_bench_ct2_tiny() -> None:
    report = bench_ct2(str(STORE), n=8, sizes=(1, 8, 64), max_tokens=64, prefixes=4, k=2)
    assert [r["batch"] for r in report["sizes"]] == [1, 8]  # 64 is more than the 8 prompts
    for row in report["sizes"]:
        assert row["prompts"] == 8
        for name in ("greedy", "sampled"):
            assert set(row[name]) == {"ours", "ct2_float32", "ct2_int8"}
            assert row[name]["ours"]["speedup"] == 1.0
            for v in row[name].values():
                assert v["tokens"] > 0 and v["seconds"] > 0
                assert 0 < v["fraction_of_matmul_peak"] < 1
        same, total = map(int, row["greedy_same_text"].split("/"))
        assert total == 8 and same >= 7  # the same model decoded greedily
        int8_same, int8_total = map(int, row["greedy_int8_same_text"].split("/"))
        assert int8_total == 8 and 0 <= int8_same <= 8  # counted; quantised weights may differ
    text = format_ct2(report)
    assert "ct2_int8" in text and "batch 8 (8 prompts" in text and "int8 " in text
    rollouts = report["rollouts"]
    assert set(rollouts) == {"prefixes", "k", "ours", "ct2_float32_batch64", "ct2_float32_batch256"}
    assert rollouts["ours"]["speedup"] == 1.0
    assert "rollouts, 4 prefixes x K=2" in format_ct2(report)


def test_ct2_continues_a_step_prefix_as_the_embedded_generator_does(tmp_path: Path) -> None:
    """The rollout semantics: the prompt's tokens continued, n hypotheses per prompt."""
    import ctranslate2

    from bench.rollouts import prefix_jobs
    from glore import GLoRe
    from glore.backends.base import SamplingParams
    from glore.backends.ct2 import Ct2Generator
    from glore.backends.sync import run_sync
    from glore.formats import rollout_prompt

    ctranslate2.converters.TransformersConverter(str(STORE / "student")).convert(
        str(tmp_path / "m")
    )
    gen = GLoRe.from_pretrained(STORE, greedy_engine="torch").models.student
    model = ctranslate2.Generator(str(tmp_path / "m"), device="cpu")
    ct = Ct2Generator(model, gen.tokenizer, max_batch_size=8)
    prompts = [rollout_prompt(j.question, j.prefix).text for j in prefix_jobs(12)]
    greedy = SamplingParams(n=2, max_tokens=48)
    ours, theirs = gen.generate_sync(prompts, greedy), run_sync(ct.generate(prompts, greedy))
    assert [len(r) for r in theirs] == [2] * 12
    same = sum(a[0].text.strip() == b[0].text.strip() for a, b in zip(ours, theirs, strict=True))
    assert same >= 11 and all(r[0] == r[1] for r in theirs)
