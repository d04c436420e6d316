"""`glore bench engine`'s rollouts part on a tiny model: both sides roll out the same
prefixes through the stage's `roll_out`, and the report says so side by side."""

import pytest

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


def test_report_has_both_rates_and_their_ratio(gen: EmbeddedGenerator) -> None:
    report = bench_rollouts(gen, prefixes=5, k=3, max_tokens=12)
    assert report["rollouts"] == 15 and report["prefixes"] == 5
    ratio = report["fixed"]["seconds"] / report["continuous"]["seconds"]
    assert report["speedup"] == round(ratio, 2)
    assert report["rollouts_per_s"] == round(15 / report["continuous"]["seconds"], 1)
    assert report["baseline_rollouts_per_s"] == round(15 / report["fixed"]["seconds"], 1)
    assert 1 <= report["continuous"]["rows_per_step"] <= 8
    assert bench_rollouts(object()) == {"skipped": "the student is not local"}
