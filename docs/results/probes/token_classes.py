"""E34 probe: does the verifier's likelihood of a candidate's *numbers* rank one question's
candidates better than its likelihood of every token? (Run on the v4 store; on a later
store, `store_head` is that store's head.)

The student writes noisy words (a unit that changes from step to step, "books" for
"cards"), which a verifier trained on reference solutions finds unlikely whether or not the
answer is right, so they blur the served ORM's features (mean, minimum, counts of unlikely
tokens over every token). This probe splits a candidate's token log-probabilities under the
store's verifier into digits, operator/equation tokens and the rest, reads each class's
mean, minimum and count below -1 and -2, and fits logistic heads on one part of the cached
validation candidates, scoring another, against the served nine features refitted on the
same part and the store's own head.

    python docs/results/probes/token_classes.py CANDIDATES.json [STORE] [--fit-from 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from evaluation.feature_probe import argmax_outcomes
from evaluation.likelihood_probe import token_logprobs
from glore.backends.embedded.likelihood import LikelihoodHead, LikelihoodScorer
from glore.backends.embedded.model import load_hf
from glore.backends.likelihood_head import Tally
from glore.formats import scorer_prompt, step_end_tokens, student_prompt
from glore.formats.positions import DIGIT, OPERATOR, WORD
from training.logistic import fit_logistic

NINE = 9
"""The v4 ORM's features, the first of `glore.backends.likelihood_head.FEATURES`."""


def class_stats(lp: list[float]) -> list[float]:
    tally = Tally()
    for value in lp:
        tally.add(value)
    return list(tally.four())


def features(lm: Any, tok: Any, question: str, steps: list[str]) -> list[float]:
    """Each token kind's (digits, operators, words) mean, min and counts below -1 and -2."""
    lp = token_logprobs(lm, tok, question, steps).tolist()
    start = len(tok(student_prompt(question).text)["input_ids"])
    kinds = step_end_tokens(tok, scorer_prompt(question, steps)).kinds[start:]
    out: list[float] = []
    for kind in (DIGIT, OPERATOR, WORD):
        out += class_stats([v for v, k in zip(lp, kinds, strict=True) if k == kind])
    return out


def fit(xs: list[list[float]], ys: list[float]) -> torch.Tensor:
    return fit_logistic(torch.tensor(xs), torch.tensor(ys), 1e-3)


def score(w: torch.Tensor, rows: list[list[list[float] | None]]) -> list[list[float]]:
    return [[-1e9 if f is None else float(torch.tensor([*f, 1.0]) @ w) for f in q] for q in rows]


def points(cache: list[dict[str, Any]], xs: list[list[list[float] | None]]):
    pts = [
        (f, float(c["right"]))
        for q, qx in zip(cache, xs, strict=True)
        for c, f in zip(q["candidates"], qx, strict=True)
        if f is not None
    ]
    return [p[0] for p in pts], [p[1] for p in pts]


def cross_fitted(cache: list[dict[str, Any]], xs: list[list[list[float] | None]], folds: int):
    """Every question scored by a head fitted on the other folds' candidates."""
    scores: list[list[float]] = []
    for k in range(folds):
        lo, hi = k * len(cache) // folds, (k + 1) * len(cache) // folds
        w = fit(*points(cache[:lo] + cache[hi:], xs[:lo] + xs[hi:]))
        scores += score(w, xs[lo:hi])
    return argmax_outcomes(cache, scores)


def designs(served: list[Any], classes: list[Any]) -> dict[str, list[Any]]:
    def join(a: list[float] | None, b: list[float] | None) -> list[float] | None:
        return None if a is None or b is None else a + b

    nine = [[None if f is None else f[:NINE] for f in q] for q in served]
    return {
        "served_nine": nine,
        "classes": classes,
        "digit_op": [[None if f is None else f[:8] for f in q] for q in classes],
        "nine_plus_classes": [
            [join(a, b) for a, b in zip(qa, qb, strict=True)]
            for qa, qb in zip(nine, classes, strict=True)
        ],
    }


def candidate_features(store: Path, cache: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    from transformers import AutoModelForCausalLM

    model, tok = load_hf(AutoModelForCausalLM, store / "orm", None)
    scorer = LikelihoodScorer(model, tok, head=None, max_batch_size=64)
    items = [(q["question"], c["steps"]) for q in cache for c in q["candidates"] if c["steps"]]
    every = iter(scorer.features_sync(items))  # every one of FEATURES, v4's nine first
    served = [
        [list(next(every)[-1]) if c["steps"] else None for c in q["candidates"]] for q in cache
    ]
    with torch.inference_mode():
        classes = [
            [
                features(model, tok, q["question"], c["steps"]) if c["steps"] else None
                for c in q["candidates"]
            ]
            for q in cache
        ]
    return served, classes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("candidates", type=Path)
    parser.add_argument("store", type=Path, nargs="?", default=Path("model_store/default"))
    parser.add_argument("--folds", type=int, default=5, help="cross-fitted on the candidates")
    parser.add_argument("--fit", type=Path, help="a run's sample/chunks: fit heads on them")
    parser.add_argument("--fit-questions", type=int, default=1000)
    parser.add_argument("--cache", type=Path, help="feature cache (JSON), read or written")
    args = parser.parse_args()
    torch.set_num_threads(2)
    cache = json.loads(args.candidates.read_text())["questions"]
    if args.cache and args.cache.exists():
        saved = json.loads(args.cache.read_text())
    else:
        served, classes = candidate_features(args.store, cache)
        saved = {"served": served, "classes": classes}
        if args.cache:
            args.cache.write_text(json.dumps(saved))
    head = LikelihoodHead.load(args.store / "orm")
    report: dict[str, Any] = {"questions": len(cache)}
    store = [
        [-1e9 if f is None else head.probability(tuple(f)) for f in q] for q in saved["served"]
    ]
    report["store_head"] = argmax_outcomes(cache, store)
    rows = designs(saved["served"], saved["classes"])
    for name, xs in rows.items():
        report[f"{name} (cross-fitted, {args.folds} folds)"] = cross_fitted(cache, xs, args.folds)
    if args.fit:
        report.update(fitted_on_samples(args, cache, rows))
    print(json.dumps(report, indent=1))


def fitted_on_samples(args: Any, cache: list[dict[str, Any]], rows: dict[str, list[Any]]):
    """Heads fitted as the ORM stage fits them: the student's samples' outcome labels."""
    from evaluation.feature_probe import sample_rows

    samples = [s for s in sample_rows(args.fit) if s["steps"]]
    qids = list(dict.fromkeys(s["qid"] for s in samples))[: args.fit_questions]
    keep = set(qids)
    samples = [s for s in samples if s["qid"] in keep]
    fake = [
        {"question": s["question"], "candidates": [{**s, "right": s["correct"]}]} for s in samples
    ]
    served, classes = candidate_features(args.store, fake)
    sample_rows_ = designs(served, classes)
    out: dict[str, Any] = {"fit_samples": len(samples), "fit_questions": len(qids)}
    for name, xs in rows.items():
        w = fit(*points(fake, sample_rows_[name]))
        out[f"{name} (fitted on samples)"] = argmax_outcomes(cache, score(w, xs))
        out[f"{name} weights"] = [round(v, 3) for v in w.tolist()]
    return out


if __name__ == "__main__":
    main()
