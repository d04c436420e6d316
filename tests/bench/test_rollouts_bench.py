"""`glore bench engine`'s rollouts part on a tiny model: the three paths roll out the same
prefixes through the stage's `roll_out` and `run_chunks`, and the report says so side by
side."""

from pathlib import Path

import pytest
import torch

from bench.rollouts import FixedBatches, bench_rollouts, prefix_jobs
from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.formats import rollout_prompt
from glore.modeling import new_causal_lm, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask


@pytest.fixture(scope="module")
def gen() -> EmbeddedGenerator:
    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 60)), vocab_size=300)
    return EmbeddedGenerator(new_causal_lm("nano", tok, seed=5), tok, max_batch_size=8)


def test_prefixes_are_distinct_and_as_many_as_asked() -> None:
    jobs = prefix_jobs(10)
    assert len(jobs) == 10 and len({(j.qid, j.prefix) for j in jobs}) == 10
    assert all(j.prefix for j in jobs)


def test_the_baseline_decodes_greedy_tokens_as_the_scheduler_does(gen: EmbeddedGenerator) -> None:
    prompts = [rollout_prompt(j.question, j.prefix).text for j in prefix_jobs(6)]
    params = SamplingParams(n=2, max_tokens=10)
    assert FixedBatches(gen).generate_sync(prompts, params) == gen.generate_sync(prompts, params)


def test_report_has_the_three_paths_and_their_ratios(gen: EmbeddedGenerator) -> None:
    report = bench_rollouts(gen, prefixes=5, k=3, max_tokens=12, chunk=2)
    assert report["rollouts"] == 15 and report["prefixes"] == 5 and report["chunk"] == 2
    fixed, one, many = (report[k]["seconds"] for k in ("fixed", "continuous", "in_flight"))
    assert report["speedup"] == round(fixed / one, 2)  # the stage's path: one chunk at a time
    assert report["in_flight_speedup"] == round(fixed / many, 2)
    assert report["rollouts_per_s"] == round(15 / one, 1)
    assert report["baseline_rollouts_per_s"] == round(15 / fixed, 1)
    assert report["in_flight"]["chunks_at_once"] == 2
    assert report["continuous"]["chunks_at_once"] == 1
    assert all(1 <= report[k]["rows_per_step"] <= 8 for k in ("continuous", "in_flight"))
    # Decoded tokens: each rollout's first comes from its prefill, the rest from steps.
    assert 0 < report["continuous"]["decode_tokens"] <= 15 * 11
    assert bench_rollouts(object()) == {"skipped": "the student is not local"}


def test_two_processes_roll_out_the_same_prefixes(gen: EmbeddedGenerator, tmp_path: Path) -> None:
    """The `gen_processes: 2` path: a student folder loaded in two spawned processes."""
    gen.model.save_pretrained(tmp_path)
    gen.tokenizer.save_pretrained(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        report = bench_rollouts(gen, prefixes=5, k=3, max_tokens=12, chunk=2, student=str(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert report["processes"]["chunks_at_once"] == 2  # two processes, a chunk each
    assert report["processes_speedup"] == round(
        report["fixed"]["seconds"] / report["processes"]["seconds"], 2
    )
    assert report["processes"]["steps_per_rollout"] > 0
