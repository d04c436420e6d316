"""The embedded scorer's token budget and prefix cache: the same probabilities as one plain
pass per solution, with the shared prefixes run once (a real, randomly initialised Llama)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from glore.backends.embedded.prefix_cache import Entry, PrefixCache
from glore.backends.embedded.scorer import EmbeddedScorer
from glore.engine.loading import load_models
from glore.errors import ConfigError
from glore.modeling import new_token_classifier, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask

PROBLEMS = ArithTask().load("validation", 8)
DRAFTS = [(p.question, list(p.solution.steps)) for p in PROBLEMS]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 100)), vocab_size=320)
    path = tmp_path_factory.mktemp("scorer")
    new_token_classifier("nano", tok, seed=3).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _plain(folder: Path) -> EmbeddedScorer:
    return EmbeddedScorer.from_pretrained(folder, prefix_cache_mb=0, max_batch_tokens=1 << 30)


def _counting(scorer: EmbeddedScorer, padded: bool = False) -> list[int]:
    """Tokens each forward pass of `scorer` runs: real ones, or rows x width."""
    ran: list[int] = []
    forward = scorer._forward

    def counted(rows: list[Any]) -> None:
        new = [len(r.ids) - r.start for r in rows]
        ran.append(len(rows) * max(new) if padded else sum(new))
        forward(rows)

    scorer._forward = counted  # type: ignore[method-assign]
    return ran


def _close(a: list[list[float]], b: list[list[float]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x == pytest.approx(y, abs=1e-5)


def test_refinements_reuse_the_drafts_prefixes(folder: Path) -> None:
    plain, cached = _plain(folder), EmbeddedScorer.from_pretrained(folder)
    _close(cached.score_sync(DRAFTS), plain.score_sync(DRAFTS))
    assert len(cached.cache) >= len(DRAFTS) and cached.cache.stats.hit_tokens == 0
    # A round's candidates: a new solution (shares the question) and one that keeps the
    # draft's first step (shares the question and that step), plus the draft again.
    (q0, s0), (q1, s1) = DRAFTS[0], DRAFTS[1]
    cands = [(q0, s1), (q1, [s1[0], *s0[1:]]), (q0, s0)]
    ran = _counting(cached)
    _close(cached.score_sync(cands), plain.score_sync(cands))
    ids = [cached._row(q, s) for q, s in cands]
    question, kept = ids[0].bounds[0], ids[1].bounds[1]
    assert cached.cache.stats.hit_tokens == question + kept + len(ids[2].ids)
    assert sum(ran) == len(ids[0].ids) - question + len(ids[1].ids) - kept  # only new tokens


def test_samples_of_one_question_share_it_within_a_call(folder: Path) -> None:
    plain, cached = _plain(folder), EmbeddedScorer.from_pretrained(folder)
    q = DRAFTS[0][0]
    samples = [(q, s) for _, s in DRAFTS[:5]] + [(q, DRAFTS[0][1])]  # one duplicate
    ran = _counting(cached)
    _close(cached.score_sync(samples), plain.score_sync(samples))
    rows = [cached._row(q, s) for q, s in samples]
    question = rows[0].bounds[0]
    assert cached.cache.holds(rows[0].ids[:question])
    assert ran[0] == question  # the question alone, once
    # then the five distinct solutions, each without the question
    assert sum(ran[1:]) == sum(len(r.ids) - question for r in rows[:5])


def test_token_budget_cuts_passes_and_changes_nothing(folder: Path) -> None:
    small = EmbeddedScorer.from_pretrained(folder, prefix_cache_mb=0, max_batch_tokens=150)
    ran = _counting(small, padded=True)
    _close(small.score_sync(DRAFTS), _plain(folder).score_sync(DRAFTS))
    longest = max(len(small._row(q, s).ids) for q, s in DRAFTS)
    assert len(ran) > 1 and all(t <= max(150, longest) for t in ran)


def test_scorer_options_are_checked(folder: Path) -> None:
    with pytest.raises(ConfigError, match="max_batch_tokens must be >= 1"):
        EmbeddedScorer.from_pretrained(folder, max_batch_tokens=0)
    with pytest.raises(ConfigError, match=r"prefix_cache_mb >= 0 \(got -1\)"):
        EmbeddedScorer.from_pretrained(folder, prefix_cache_mb=-1)


def test_a_spec_sets_a_local_scorers_options_and_nothing_else(folder: Path, tmp_path: Path) -> None:
    import yaml

    gen = tmp_path / "gen"
    from glore.modeling import new_causal_lm

    tok = EmbeddedScorer.from_pretrained(folder).tokenizer
    new_causal_lm("nano", tok, seed=1).save_pretrained(gen)
    tok.save_pretrained(gen)
    roles: dict[str, Any] = {r: {"path": str(gen)} for r in ("student", "global", "local")}
    roles["orm"] = {"path": str(folder), "prefix_cache_mb": 0, "max_batch_tokens": 99}
    roles["sorm"] = {"path": str(folder)}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(roles))
    models = load_models(spec)
    orm, sorm = models.orm, models.sorm
    assert isinstance(orm, EmbeddedScorer) and isinstance(sorm, EmbeddedScorer)
    assert not orm.cache.enabled and orm.max_batch_tokens == 99 and sorm.cache.enabled
    assert models.student is models.global_refiner is models.local_refiner  # one model
    roles["student"]["prefix_cache_mb"] = 1
    spec.write_text(yaml.safe_dump(roles))
    with pytest.raises(ConfigError, match=r"role 'student': unknown keys \['prefix_cache_mb'\]"):
        load_models(spec)


def _entry(ids: tuple[int, ...]) -> Entry:
    kv = [(torch.zeros(1, len(ids), 4), torch.zeros(1, len(ids), 4))]
    return Entry(ids, kv, torch.zeros(len(ids)))


def test_cache_evicts_the_least_recently_used_within_its_bytes() -> None:
    size = _entry((1, 2, 3, 4)).nbytes
    cache = PrefixCache(max_bytes=2 * size)
    seen: list[tuple[int, int]] = []
    cache.listeners.append(lambda tokens, found: seen.append((tokens, found)))
    a, b, c = _entry((1, 2, 3, 4)), _entry((1, 2, 7, 8)), _entry((5, 6, 7, 8))
    cache.add(a, [2, 4])
    cache.add(b, [2, 4])
    assert cache.find((1, 2, 3, 4, 9), [2, 4, 5]) == (a, 4)
    assert cache.find((1, 2, 0), [2, 3]) == (b, 2)  # a shared prefix points to the newest
    cache.find((1, 2, 3, 4), [4])  # a is now the most recently used
    cache.add(c, [4])
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.find((1, 2, 7, 8), [2, 4]) == (None, 0)  # b went, with its keys
    assert cache.find((5, 6, 7, 8), [4]) == (c, 4)
    cache.add(_entry(tuple(range(100))), [100])  # larger than the whole budget
    assert len(cache) == 2 and not cache.holds(tuple(range(100)))
    assert cache.stats.hit_tokens == 4 + 2 + 4 + 4 and cache.stats.hit_rate < 1
    assert seen == [(5, 4), (3, 2), (4, 4), (4, 0), (4, 4)]
    with pytest.raises(ConfigError, match="max_bytes must be >= 0"):
        PrefixCache(max_bytes=-1)
