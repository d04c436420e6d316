"""A likelihood ORM on a vLLM generate server: the prompt log-probabilities of each solution
(`/v1/completions`, `prompt_logprobs`) read as the embedded scorer reads its own, against
the stand-in server that serves vLLM's documented shape."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from glore.backends.likelihood_head import LikelihoodHead, prefix_features
from glore.backends.remote import RemoteScorer
from glore.backends.remote.vllm_contract import ContractError, parse_prompt_logprobs
from glore.errors import BackendError
from glore.formats import scorer_prompt, step_end_tokens
from glore.formats.positions import DIGIT, OPERATOR
from tests.glore.backends import vllm_standin as standin
from tests.glore.backends.test_remote import FAST, ITEMS, WordTokenizer

HEAD = LikelihoodHead((1.5, 0.4, -2.0), 0.2)
KINDS_HEAD = LikelihoodHead((0.7, -1.1, 2.0), -0.3, ("digit_mean", "op_min", "digit_below-1/10"))
"""A head of the digit and operator features: the server's log-probabilities, the kinds
from the local tokenizer's offsets."""


def _expected(
    tok: WordTokenizer, question: str, steps: list[str], head: LikelihoodHead = HEAD
) -> list[float]:
    """The head over the stand-in's log-probabilities, computed here from its rule."""
    enc = step_end_tokens(tok, scorer_prompt(question, steps))
    logps = [0.0] + [standin.fake_logprob(x, t) for t, x in enumerate(enc.input_ids) if t]
    start = enc.step_starts[0]
    feats = prefix_features(logps[start:], [e - start for e in enc.step_ends], enc.kinds[start:])
    return [head.probability(x) for x in feats]


def _score(scorer: RemoteScorer, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    async def run() -> list[list[float]]:
        async with scorer:
            return await scorer.score(items)

    return asyncio.run(run())


def test_each_step_is_the_heads_probability_of_its_prefix(srv: Any) -> None:
    tok = WordTokenizer()
    scorer = RemoteScorer(srv.base_url, "orm", tok, head=HEAD, max_items_per_request=2, **FAST)
    srv.state.models.add("orm")
    out = _score(scorer, ITEMS)
    want = [_expected(tok, q, s) for q, s in ITEMS]
    assert [len(p) for p in out] == [2, 2, 1]
    for got, exp in zip(out, want, strict=True):
        assert got == pytest.approx(exp, abs=1e-12)
    paths = [path for path, _ in srv.state.requests]
    assert paths == ["/v1/completions"] * 2  # 3 items, at most 2 a request
    bodies = [body for _, body in srv.state.requests]  # sent concurrently, in any order
    assert all(b["prompt_logprobs"] == 0 and b["max_tokens"] == 1 for b in bodies)
    prompts = sorted(p for b in bodies for p in b["prompt"])
    assert prompts == sorted(step_end_tokens(tok, scorer_prompt(*x)).input_ids for x in ITEMS)


def test_digit_and_operator_features_read_the_local_tokens_kinds(srv: Any) -> None:
    tok = WordTokenizer()
    scorer = RemoteScorer(srv.base_url, "orm", tok, head=KINDS_HEAD, **FAST)
    srv.state.models.add("orm")
    out = _score(scorer, ITEMS)
    want = [_expected(tok, q, s, KINDS_HEAD) for q, s in ITEMS]
    for got, exp in zip(out, want, strict=True):
        assert got == pytest.approx(exp, abs=1e-12)
    # The first item's solution holds digits and operators, so the head reads more than zeros.
    enc = step_end_tokens(tok, scorer_prompt(*ITEMS[0]))
    assert {DIGIT, OPERATOR} <= set(enc.kinds[enc.step_starts[0] :])


def test_from_pretrained_reads_the_head_beside_the_tokenizer(tmp_path: Path, srv: Any) -> None:
    store = Path(__file__).resolve().parents[3] / "model_store" / "default" / "student"
    folder = tmp_path / "orm"
    shutil.copytree(store, folder)
    assert RemoteScorer.from_pretrained(srv.base_url, "orm", folder).head is None
    HEAD.save(folder)
    assert RemoteScorer.from_pretrained(srv.base_url, "orm", folder).head == HEAD


def test_a_response_without_prompt_logprobs_is_a_clear_error(srv: Any) -> None:
    body = {"choices": [{"index": 0, "text": "x", "finish_reason": "length"}]}
    with pytest.raises(ContractError, match="without prompt_logprobs"):
        parse_prompt_logprobs(body, [[1, 2, 3]])
    entries = [None, {"9": {"logprob": -1.0}}]
    with pytest.raises(ContractError, match="lacks its prompt token 2"):
        parse_prompt_logprobs({"choices": [{"index": 0, "prompt_logprobs": entries}]}, [[1, 2]])
    with pytest.raises(ContractError, match="lacks prompts"):
        parse_prompt_logprobs({"choices": []}, [[1, 2]])
    # A server that ignores the parameter (the stand-in with a text prompt does) fails the
    # call with the contract's reason, not a wrong score.
    srv.state.models.add("orm")
    scorer = RemoteScorer(srv.base_url, "orm", WordTokenizer(), head=HEAD, **FAST)
    srv.state.knobs.drop_prompt_logprobs = True
    with pytest.raises(BackendError, match="prompt_logprobs"):
        _score(scorer, ITEMS[:1])
