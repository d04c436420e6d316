"""The likelihood verifier: its features are a plain pass's token log-probabilities (with
the prefix cache and without), its score is its head's, and a folder with a head loads as
one (a real, randomly initialised Llama)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from glore.backends.embedded.likelihood import (
    HEAD_FILE,
    LikelihoodHead,
    LikelihoodScorer,
    prefix_features,
)
from glore.backends.embedded.scorer import EmbeddedScorer, TokenValues
from glore.backends.embedded.scorers import open_scorer, scorer_class
from glore.backends.likelihood_head import BASE_FEATURES, FEATURES, step_features
from glore.errors import ConfigError, ModelNotFoundError
from glore.formats import scorer_prompt, step_end_tokens
from glore.formats.positions import DIGIT, OPERATOR, WORD, token_kind
from glore.modeling import new_causal_lm, new_token_classifier, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask

PROBLEMS = ArithTask().load("validation", 6)
DRAFTS = [(p.question, list(p.solution.steps)) for p in PROBLEMS]
HEAD = LikelihoodHead((2.0, 0.5, -1.0), 0.3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 100)), vocab_size=320)
    path = tmp_path_factory.mktemp("likelihood")
    new_causal_lm("nano", tok, seed=5).save_pretrained(path)
    tok.save_pretrained(path)
    HEAD.save(path, samples=0)
    return path


def _reference(scorer: LikelihoodScorer, question: str, steps: list[str]) -> list[tuple]:
    """One unbatched pass: log p(token | tokens before it) over the solution, by hand."""
    prompt = scorer_prompt(question, steps)
    enc, enc_text = step_end_tokens(scorer.tokenizer, prompt), prompt.text
    spans = scorer.tokenizer(enc_text, return_offsets_mapping=True)["offset_mapping"]
    ids = torch.tensor([enc.input_ids])
    with torch.no_grad():
        logp = torch.log_softmax(scorer.model(input_ids=ids).logits[0].float(), dim=-1)
    start, out, means = enc.step_starts[0], [], []
    for j, end in enumerate(enc.step_ends):
        picked = [float(logp[t - 1, ids[0, t]]) for t in range(start, end + 1)]
        first = enc.step_ends[j - 1] + 1 if j else start
        step = [float(logp[t - 1, ids[0, t]]) for t in range(first, end + 1)]
        means.append(sum(step) / len(step))
        kinds = [token_kind(enc_text[a:b]) for a, b in spans[start : end + 1]]
        out.append(_by_hand(picked, step, j, min(means), kinds))
    return out


def _by_hand(
    prefix: list[float], step: list[float], j: int, worst: float, kinds: list[int]
) -> tuple:
    """Every one of FEATURES, in its order, written out plainly."""

    def four(values: list[float]) -> tuple:
        if not values:
            return (0.0, 0.0, 0.0, 0.0)
        low1, low2 = sum(v < -1 for v in values), sum(v < -2 for v in values)
        return (sum(values) / len(values), min(values), low1 / 10, low2 / 10)

    digits = [v for v, k in zip(prefix, kinds, strict=True) if k == DIGIT]
    ops = [v for v, k in zip(prefix, kinds, strict=True) if k == OPERATOR]
    return (
        sum(prefix) / len(prefix),
        min(prefix),
        len(prefix) / 100,
        sum(step) / len(step),
        min(step),
        sum(v < -1 for v in prefix) / 10,
        sum(v < -2 for v in prefix) / 10,
        j / 10,
        worst,
        *four(digits),
        *four(ops),
    )


def _close(got: list[list[tuple]], want: list[list[tuple]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w)
        for a, b in zip(g, w, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_features_are_a_plain_pass_with_and_without_the_cache(folder: Path) -> None:
    cached = LikelihoodScorer.from_pretrained(folder)
    plain = LikelihoodScorer.from_pretrained(folder, prefix_cache_mb=0, max_batch_tokens=64)
    want = [_reference(plain, q, s) for q, s in DRAFTS]
    _close(plain.features_sync(DRAFTS), want)
    _close(cached.features_sync(DRAFTS), want)
    # Refinements that share the question, or the question and a first step, with what the
    # cache holds: each reruns one cached token and reads the rest from the cache.
    (q0, s0), (_, s1) = DRAFTS[0], DRAFTS[1]
    cands = [(q0, s1), (q0, [s0[0], *s1[1:]]), (q0, s0)]
    hits = cached.cache.stats.hit_tokens
    _close(cached.features_sync(cands), [_reference(plain, q, s) for q, s in cands])
    assert cached.cache.stats.hit_tokens > hits


def test_score_is_the_heads_probability_at_each_step(folder: Path) -> None:
    scorer = open_scorer(folder)
    assert isinstance(scorer, LikelihoodScorer) and scorer.head == HEAD
    feats, probs = scorer.features_sync(DRAFTS), scorer.score_sync(DRAFTS)
    for (_, steps), f, p in zip(DRAFTS, feats, probs, strict=True):
        assert len(p) == len(steps)
        for x, prob in zip(f, p, strict=True):
            logit = 2.0 * x[0] + 0.5 * x[1] - 1.0 * x[2] + 0.3
            assert prob == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-9)
    # The prefix features move with the prefix: a longer prefix never has a higher minimum.
    assert all(b[1] <= a[1] and b[2] > a[2] for f in feats for a, b in itertools.pairwise(f))


def test_prefix_features() -> None:
    logps, kinds = [-1.0, -3.0, -2.0], [DIGIT, WORD, OPERATOR]
    assert FEATURES[:3] == BASE_FEATURES == ("mean", "min", "length/100")
    assert prefix_features(logps, [0, 2], kinds) == [
        _by_hand([-1.0], [-1.0], 0, -1.0, [DIGIT]),
        _by_hand(logps, [-3.0, -2.0], 1, -2.5, kinds),
    ]
    assert prefix_features(logps, [2], kinds)[0][:5] == (-2.0, -3.0, 0.03, -2.0, -3.0)
    assert prefix_features(logps, [0, 2], kinds)[1][5:9] == (0.2, 0.1, 0.1, -2.5)
    # Digits and operators apart: the first prefix has no operator yet (zeros), the word's
    # -3 is in neither.
    first, whole = prefix_features(logps, [0, 2], kinds)
    assert first[9:] == (-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert whole[9:] == (-1.0, -1.0, 0.0, 0.0, -2.0, -2.0, 0.1, 0.0)
    # Over a whole prompt: the question's tokens (before `first`) are left out.
    prompt = step_features([0.0, -9.0, *logps], 2, [2, 4], [WORD, DIGIT, *kinds])
    assert prompt == prefix_features(logps, [0, 2], kinds)


def test_token_kinds_are_the_text_each_token_covers(folder: Path) -> None:
    assert [token_kind(t) for t in (" 12", "3", ".", " x", "<<", ">>", "####", " =")] == [
        DIGIT,
        DIGIT,
        DIGIT,
        OPERATOR,
        OPERATOR,
        OPERATOR,
        OPERATOR,
        OPERATOR,
    ]
    assert [token_kind(t) for t in (" books", "", " 5.", "x2", "\n")] == [WORD] * 5
    tok = LikelihoodScorer.from_pretrained(folder).tokenizer
    enc = step_end_tokens(tok, scorer_prompt(*DRAFTS[0]))
    assert len(enc.kinds) == len(enc.input_ids)
    text = [tok.decode([i]).strip() for i in enc.input_ids]
    assert {t for t, k in zip(text, enc.kinds, strict=True) if k == DIGIT} <= set("0123456789.")
    assert any(k == DIGIT for k in enc.kinds) and any(k == OPERATOR for k in enc.kinds)
    assert enc.kinds[0] == WORD  # <s> covers no text


def test_a_folder_is_a_likelihood_verifier_by_its_head(folder: Path, tmp_path: Path) -> None:
    assert scorer_class(folder) is LikelihoodScorer
    classifier = tmp_path / "classifier"
    tok = LikelihoodScorer.from_pretrained(folder).tokenizer
    new_token_classifier("nano", tok, seed=1).save_pretrained(classifier)
    tok.save_pretrained(classifier)
    assert scorer_class(classifier) is EmbeddedScorer
    assert type(open_scorer(classifier)) is EmbeddedScorer


def test_a_head_weighs_only_its_own_features(tmp_path: Path) -> None:
    head = LikelihoodHead((1.0, -2.0), 0.5, ("step_min", "worst_step_mean"))
    x = prefix_features([-1.0, -3.0, -2.0], [0, 2], [WORD] * 3)[1]
    logit = 1.0 * x[FEATURES.index("step_min")] - 2.0 * x[FEATURES.index("worst_step_mean")]
    assert head.probability(x) == pytest.approx(1 / (1 + math.exp(-(logit + 0.5))))
    head.save(tmp_path)
    assert LikelihoodHead.load(tmp_path) == head
    # A head saved before heads named their features weighs the first three.
    (tmp_path / HEAD_FILE).write_text(json.dumps({"weights": [1, 2, 3], "bias": 0}))
    assert LikelihoodHead.load(tmp_path).features == BASE_FEATURES


def test_bad_heads_are_refused(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown: \['max'\]"):
        LikelihoodHead((1.0, 2.0, 3.0), 0.0, ("mean", "max", "length/100"))
    with pytest.raises(ConfigError, match="distinct"):
        LikelihoodHead((1.0, 2.0), 0.0, ("mean", "mean"))
    with pytest.raises(ConfigError, match="one weight per feature"):
        LikelihoodHead((1.0, 2.0), 0.0)
    with pytest.raises(ConfigError, match="finite"):
        LikelihoodHead((1.0, float("nan"), 3.0), 0.0)
    with pytest.raises(ModelNotFoundError, match="no likelihood head"):
        LikelihoodHead.load(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / HEAD_FILE).write_text(json.dumps({"weights": [1, 2]}))
    with pytest.raises(ConfigError, match="not a likelihood head"):
        LikelihoodScorer.from_pretrained(broken)


def test_a_sibling_reads_the_same_passes_with_its_own_head(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sibling`: one model, one lock and cache; what one scores the other reads without a
    pass, each through its own head, to what a scorer of that head alone gives."""
    import asyncio

    orm = LikelihoodScorer.from_pretrained(folder)
    other = LikelihoodHead((-1.0, 0.2, 0.5), -0.1)
    sorm = orm.sibling(head=other)
    assert sorm.model is orm.model and sorm.cache is orm.cache and sorm.head == other
    alone = LikelihoodScorer(orm.model, orm.tokenizer, head=other, prefix_cache_mb=0)
    passes: list[int] = []
    for scorer in (orm, sorm):
        inner = scorer._forward
        monkeypatch.setattr(
            scorer, "_forward", lambda rows, inner=inner: (passes.append(len(rows)), inner(rows))
        )
    first = orm.score_sync(DRAFTS)
    ran = len(passes)
    assert ran > 0
    for got, want in zip(sorm.score_sync(DRAFTS), alone.score_sync(DRAFTS), strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert len(passes) == ran  # the sibling ran no pass of its own
    assert orm.score_sync(DRAFTS) == first

    async def both() -> list[list[list[float]]]:
        return list(await asyncio.gather(orm.score(DRAFTS[:3]), sorm.score(DRAFTS[:3])))

    assert orm.shared is not None
    orm.shared.clear()
    orm.cache.clear()
    for got, want in zip(
        asyncio.run(both()), [first[:3], alone.score_sync(DRAFTS[:3])], strict=True
    ):
        for a, b in zip(got, want, strict=True):
            assert a == pytest.approx(b, abs=1e-6)


def test_token_values_keep_the_most_recent_rows_within_their_bound() -> None:
    kept = TokenValues(max_tokens=5)
    a, b, c = (1, 2), (3, 4), (5, 6)
    kept.put(a, torch.zeros(2))
    kept.put(b, torch.ones(2))
    assert kept.get(a) is not None  # a is now the most recent
    kept.put(c, torch.ones(2))  # 6 tokens > 5: the least recent (b) goes
    assert kept.get(b) is None and kept.get(a) is not None and kept.get(c) is not None
    assert kept.tokens == 4
    kept.put((0,) * 9, torch.zeros(9))  # longer than the bound: not kept
    assert kept.tokens == 4
    kept.clear()
    assert kept.tokens == 0 and kept.get(a) is None
