"""Continuous batching on real tiny Llamas: rows join and leave the running decode, each
row keeps its own parameters and random draws, caps and arrival order hold, and a
cancelled request leaves."""

import asyncio
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from glore.backends.base import SamplingParams
from glore.backends.embedded import scheduler as scheduler_module
from glore.backends.embedded.decode import decode
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.scheduler import Scheduler
from glore.formats import rollout_prompt, student_prompt
from glore.modeling import new_causal_lm, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask

STUDENT = Path(__file__).resolve().parents[4] / "model_store" / "default" / "student"
PROBLEMS = ArithTask().load("validation", 10)
PROMPTS = [student_prompt(p.question).text for p in PROBLEMS]


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return train_tokenizer(corpus_texts(ArithTask().load("train", 100)), vocab_size=320)


@pytest.fixture(scope="module")
def model(tok):  # type: ignore[no-untyped-def]
    return new_causal_lm("nano", tok, seed=3).eval()


def _ids(tok, texts: list[str]) -> list[list[int]]:  # type: ignore[no-untyped-def]
    return [tok(t)["input_ids"] for t in texts]


def _idle(s: Scheduler) -> None:
    deadline = time.monotonic() + 30
    while s.active and time.monotonic() < deadline:
        time.sleep(0.01)


def test_greedy_matches_the_fixed_batch_decode_on_the_default_student() -> None:
    if not (STUDENT / "config.json").is_file():
        pytest.skip(f"missing {STUDENT / 'config.json'}")
    gen = EmbeddedGenerator.from_pretrained(STUDENT, device="cpu", max_batch_size=6)
    jobs = [(p.question, p.solution.steps[:1]) for p in ArithTask().load("validation", 8)]
    prompts = PROMPTS[:8] + [rollout_prompt(q, s).text for q, s in jobs]
    outs = gen.generate_sync(prompts, SamplingParams(max_tokens=48))
    tok = gen.tokenizer
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    ref = decode(gen.model, enc["input_ids"], enc["attention_mask"], max_new_tokens=48,
                 eos_id=tok.eos_token_id, pad_id=tok.pad_token_id).tolist()  # fmt: skip
    for (c,), row in zip(outs, ref, strict=True):
        ids = [i for i in row if i not in (tok.pad_token_id, tok.eos_token_id)]
        assert c.text == tok.decode(ids, skip_special_tokens=True)


def test_seeded_samples_do_not_depend_on_batch_company_or_order(model, tok) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok, max_batch_size=4)
    params = SamplingParams(n=3, temperature=1.0, top_p=0.9, max_tokens=10, seed=11)
    together = gen.generate_sync(PROMPTS, params)
    assert gen.generate_sync(PROMPTS[::-1], params)[::-1] == together
    assert gen.generate_sync(PROMPTS[4:5], params)[0] == together[4]
    other = SamplingParams(n=3, temperature=1.0, top_p=0.9, max_tokens=10, seed=12)
    assert gen.generate_sync(PROMPTS, other) != together
    assert len({c.text for c in together[0]}) > 1  # the n samples of a prompt differ


def test_concurrent_calls_keep_their_own_parameters(model, tok) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok, max_batch_size=8)
    calls = [
        (PROMPTS[:3], SamplingParams(max_tokens=12)),
        (PROMPTS[3:6], SamplingParams(n=2, temperature=0.8, max_tokens=5, seed=1)),
        (PROMPTS[6:], SamplingParams(n=2, temperature=1.5, top_p=0.5, max_tokens=9, seed=2)),
    ]
    alone = [gen.generate_sync(p, params) for p, params in calls]
    _idle(gen.scheduler)
    runs = gen.scheduler.runs

    async def together() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(gen.generate(p, params) for p, params in calls))

    assert asyncio.run(together()) == alone
    assert gen.scheduler.runs == runs + 1  # the three calls shared one running decode
    assert all(c.tokens <= 5 for row in alone[1] for c in row)


def test_rows_leave_when_they_end_and_caps_hold(model, tok) -> None:  # type: ignore[no-untyped-def]
    s = Scheduler(model, eos_id=-1, context=1024, max_rows=3, max_kv_tokens=10**6)
    widths: list[int] = []
    step = s._step
    s._step = lambda: (widths.append(len(s._rows)), step())[1]  # type: ignore[method-assign]
    futures = [s.submit(_ids(tok, PROMPTS[i : i + 1]), PROMPTS[i : i + 1],
                        SamplingParams(max_tokens=4 + 3 * i)) for i in range(6)]  # fmt: skip
    rows = [f.result(timeout=60)[0] for f in futures]
    assert max(widths) == 3  # full, never over the cap
    assert s.row_steps == sum(len(r) - 1 for r in rows)  # no row decoded past its end
    assert s.steps < sum(len(r) for r in rows) / 2  # rows shared the steps


def test_kv_cap_limits_running_rows(model, tok) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(tok, PROMPTS[:1])
    s = Scheduler(model, eos_id=-1, context=1024, max_rows=8, max_kv_tokens=2 * len(ids[0]) + 12)
    widths: list[int] = []
    step = s._step
    s._step = lambda: (widths.append(len(s._rows)), step())[1]  # type: ignore[method-assign]
    params = SamplingParams(n=5, temperature=1.0, max_tokens=6, seed=3)
    out = s.submit(ids, PROMPTS[:1], params).result(timeout=60)
    assert max(widths) == 2 and [len(r) for r in out] == [6] * 5  # 5 samples, 2 at a time
    wide = Scheduler(model, eos_id=-1, context=1024, max_rows=8, max_kv_tokens=10**6)
    assert wide.submit(ids, PROMPTS[:1], params).result(timeout=60) == out  # parts: same draws


def test_requests_are_served_in_arrival_order(model, tok) -> None:  # type: ignore[no-untyped-def]
    s = Scheduler(model, eos_id=-1, context=1024, max_rows=2, max_kv_tokens=10**6)
    done: list[int] = []
    futures = []
    for i in range(5):  # each fills both rows: none may overtake an earlier one
        f = s.submit(_ids(tok, PROMPTS[i : i + 1]), PROMPTS[i : i + 1],
                     SamplingParams(n=2, temperature=1.0, max_tokens=8 - i, seed=i))  # fmt: skip
        f.add_done_callback(lambda _, i=i: done.append(i))
        futures.append(f)
    for f in futures:
        f.result(timeout=60)
    assert done == [0, 1, 2, 3, 4]


def test_a_cancelled_request_leaves_the_decode(model, tok) -> None:  # type: ignore[no-untyped-def]
    s = Scheduler(model, eos_id=-1, context=1024, max_rows=4, max_kv_tokens=10**6)
    long: Future[list[list[int]]] = s.submit(_ids(tok, PROMPTS[:2]), PROMPTS[:2],
                                             SamplingParams(max_tokens=900))  # fmt: skip
    while s.steps < 3:
        time.sleep(0.005)
    assert long.cancel()
    short = s.submit(_ids(tok, PROMPTS[2:3]), PROMPTS[2:3], SamplingParams(max_tokens=3))
    assert len(short.result(timeout=60)[0]) == 3
    _idle(s)
    assert not s.active and s.steps < 300  # the 900-token rows did not run on


def test_async_caller_that_leaves_cancels_its_rows(model, tok) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok, max_batch_size=4)
    gen.scheduler.eos_id = -1  # the rows would run their whole 900 tokens

    async def leave() -> None:
        task = asyncio.create_task(gen.generate(PROMPTS[:2], SamplingParams(max_tokens=900)))
        while gen.scheduler.steps < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(leave())
    _idle(gen.scheduler)
    assert not gen.scheduler.active and gen.scheduler.steps < 300


def test_long_prompts_prefill_in_chunks_to_the_same_tokens(model, tok, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok, max_batch_size=4)
    params = SamplingParams(n=2, temperature=1.0, max_tokens=8, seed=4)
    whole = gen.generate_sync(PROMPTS[:5], params)
    monkeypatch.setattr(scheduler_module, "PREFILL_TOKENS", 7)  # every prompt in chunks
    assert gen.generate_sync(PROMPTS[:5], params) == whole


def test_a_failing_step_fails_its_requests_not_later_ones(model, tok) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok, max_batch_size=4)
    expected = gen.generate_sync(PROMPTS[:1], SamplingParams(max_tokens=4))
    real = gen.scheduler._step

    def broken() -> None:
        gen.scheduler._step = real  # type: ignore[method-assign]
        raise RuntimeError("out of memory")

    gen.scheduler._step = broken  # type: ignore[method-assign]
    with pytest.raises(Exception, match="out of memory"):
        gen.generate_sync(PROMPTS[1:3], SamplingParams(max_tokens=4))
    assert gen.generate_sync(PROMPTS[:1], SamplingParams(max_tokens=4)) == expected


def test_empty_calls_and_bad_caps(model, tok) -> None:  # type: ignore[no-untyped-def]
    gen = EmbeddedGenerator(model, tok)
    assert gen.generate_sync([], SamplingParams()) == []
    with pytest.raises(ValueError):
        Scheduler(model, eos_id=2, context=64, max_rows=0, max_kv_tokens=1)


def test_a_replica_keeps_the_caps_and_gives_the_same_greedy_tokens(model, tok) -> None:  # type: ignore[no-untyped-def]
    from glore.backends.embedded.lane import Lane

    s = Scheduler(model, eos_id=-1, context=1024, max_rows=3, max_kv_tokens=10**6)
    own = Lane("replica-lane")
    forward = s.replica(lean_step=False, lane=own)
    assert (forward.max_rows, forward.max_kv_tokens, forward.context) == (3, 10**6, 1024)
    assert forward.lean is None and s.lean is not None and forward.lane is own
    params = SamplingParams(max_tokens=6)
    ids = _ids(tok, PROMPTS[:4])
    assert forward.submit(ids, PROMPTS[:4], params).result(timeout=60) == s.submit(
        ids, PROMPTS[:4], params
    ).result(timeout=60)
