"""Embedded generation and scoring on a real (randomly initialised) tiny Llama."""

import asyncio
import time
from pathlib import Path

import pytest
import torch

from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.scorer import EmbeddedScorer
from glore.errors import BackendError, ConfigError, InvalidInputError, ModelNotFoundError
from glore.formats import scorer_prompt, step_end_tokens, student_prompt
from glore.modeling import new_causal_lm, new_token_classifier, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask

PROBLEMS = ArithTask().load("validation", 12)
PROMPTS = [student_prompt(p.question).text for p in PROBLEMS]


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return train_tokenizer(corpus_texts(ArithTask().load("train", 100)), vocab_size=320)


@pytest.fixture(scope="module")
def gen(tok) -> EmbeddedGenerator:  # type: ignore[no-untyped-def]
    return EmbeddedGenerator(new_causal_lm("nano", tok, seed=1), tok, max_batch_size=5)


def test_greedy_matches_transformers_generate(gen: EmbeddedGenerator, tok) -> None:  # type: ignore[no-untyped-def]
    outs = gen.generate_sync(PROMPTS[:4], SamplingParams(max_tokens=12))
    for prompt, (c,) in zip(PROMPTS[:4], outs, strict=True):
        enc = tok([prompt], return_tensors="pt")
        with torch.inference_mode():
            ref = gen.model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=12,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        ids = ref[0, enc["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in ids:
            ids = ids[: ids.index(tok.eos_token_id)]
        assert c.text == tok.decode(ids, skip_special_tokens=True) and c.tokens == len(ids)


def test_n_samples_per_prompt_in_order_and_seeded(gen: EmbeddedGenerator) -> None:
    params = SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=5)
    a = gen.generate_sync(PROMPTS, params)
    assert [len(row) for row in a] == [3] * len(PROMPTS)
    assert a == gen.generate_sync(PROMPTS, params)
    assert a != gen.generate_sync(
        PROMPTS, SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=6)
    )
    # A prompt's samples do not depend on where the batch split put it.
    alone = gen.generate_sync(PROMPTS[:1], params)[0]
    assert all(c.finish_reason in ("stop", "length") and c.tokens <= 8 for c in alone)


def test_stop_strings_cut_the_text(gen: EmbeddedGenerator) -> None:
    ((c,),) = gen.generate_sync(PROMPTS[:1], SamplingParams(max_tokens=16))
    if len(c.text) > 2:
        stop = c.text[1:3]
        ((d,),) = gen.generate_sync(PROMPTS[:1], SamplingParams(max_tokens=16, stop=(stop,)))
        assert stop not in d.text and d.finish_reason == "stop"


def test_concurrent_calls_share_the_decode_and_answer_in_order(
    gen: EmbeddedGenerator,
) -> None:
    params = SamplingParams(max_tokens=6)
    expected = gen.generate_sync(PROMPTS, params)
    while gen.scheduler.active:  # idle again, so the calls below start one run
        time.sleep(0.005)
    before = gen.scheduler.runs

    async def many() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(gen.generate([p], params) for p in PROMPTS))

    results = asyncio.run(many())
    assert [r[0] for r in results] == expected
    assert gen.scheduler.runs - before == 1  # all joined one running decode


def test_overlong_prompt_is_a_clear_error(gen: EmbeddedGenerator) -> None:
    with pytest.raises(BackendError, match="leaves no room"):
        gen.generate_sync(["x " * 2000], SamplingParams(max_tokens=4))


def test_bad_sampling_params() -> None:
    with pytest.raises(InvalidInputError, match="temperature"):
        SamplingParams(temperature=-0.1)
    with pytest.raises(InvalidInputError, match="n must be"):
        SamplingParams(n=0)


def test_scorer_reads_every_step_end_in_one_pass(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = new_token_classifier("nano", tok, seed=2)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    scorer = EmbeddedScorer.from_pretrained(tmp_path, max_batch_size=3)
    items = [(p.question, list(p.solution.steps)) for p in PROBLEMS]
    values = scorer.score_sync(items)
    for (q, steps), v in zip(items, values, strict=True):
        enc = step_end_tokens(tok, scorer_prompt(q, steps))
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([enc.input_ids])).logits[0, :, 0]
        expected = torch.sigmoid(logits[enc.step_ends]).tolist()
        assert v == pytest.approx(expected, abs=1e-5)
    for got, want in zip(asyncio.run(scorer.score(items[:2])), values[:2], strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    with pytest.raises(InvalidInputError, match="at least one step"):
        scorer.score_sync([("q", [])])


def test_scorer_dtype_is_a_choice_and_bf16_stays_close(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new_token_classifier("nano", tok, seed=2).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    fp32 = EmbeddedScorer.from_pretrained(tmp_path, device="cpu")
    bf16 = EmbeddedScorer.from_pretrained(tmp_path, device="cpu", dtype="bfloat16")
    assert next(fp32.model.parameters()).dtype == torch.float32  # auto on a CPU
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    items = [(p.question, list(p.solution.steps)) for p in PROBLEMS]
    for a, b in zip(fp32.score_sync(items), bf16.score_sync(items), strict=True):
        assert b == pytest.approx(a, abs=0.03)  # bf16 keeps 8 bits of mantissa
    with pytest.raises(ConfigError, match="dtypes: auto, float32, bfloat16, float16"):
        EmbeddedScorer.from_pretrained(tmp_path, dtype="int4")


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"config\.json"):
        EmbeddedGenerator.from_pretrained(tmp_path)


def test_a_model_folder_without_a_tokenizer_says_so(tmp_path: Path) -> None:
    """A Trainer checkpoint holds weights and config but no tokenizer."""
    import shutil

    store = Path(__file__).resolve().parents[4] / "model_store" / "default" / "orm"
    for name in ("config.json", "model.safetensors"):
        shutil.copy(store / name, tmp_path / name)
    with pytest.raises(ModelNotFoundError, match=r"no tokenizer at .*copy the run's tokenizer"):
        EmbeddedScorer.from_pretrained(tmp_path)
