"""E23's probe (docs/results/ablations.md): do other likelihood heads rerank better?

A research record, not part of the package. Three steps, each writing JSON lines:

    python docs/results/probes/orm_heads.py candidates validation 300 c_val.jsonl
    python docs/results/probes/orm_heads.py candidates hard-validation 200 c_hard.jsonl
    python docs/results/probes/orm_heads.py candidates train:31800 2000 c_train.jsonl
    python docs/results/probes/orm_heads.py samples RUN 1000 s_train.jsonl
    python docs/results/probes/orm_heads.py fit s_train.jsonl c_train.jsonl c_val.jsonl c_hard.jsonl

`candidates` runs the store's engine (`always`: draft, global, local) and records each
candidate's outcome, the store ORM's score and its base's `FEATURES` of the whole solution;
`samples` records the same features of a run's `sample` stage samples (the store head's
fit set: its first N questions); `fit` fits heads (pointwise logistic as the `orm` stage
does, or within-question Bradley-Terry with a calibrated bias) on samples, candidates or
both, over three feature sets, and judges each on the validation and long candidates.
`GLORE_PROBE_MODELS=SPEC` makes the candidates with a spec file's models instead, and
`refit TRAIN VAL` fits the nine-feature head to TRAIN's candidates alone and judges it on
VAL's (E25e).
`hard-validation`: problems of the `hard` split's step range whose hash the validation
bucket owns (the `hard` split is the test bucket's), so choosing on them tunes nothing
that is reported on `arith-hard`.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from glore.backends.likelihood_head import FEATURES
from glore.formats import answers_equal, parse_number
from glore.labels.metrics import within_question_ranking
from glore.tasks.arith import ArithTask, generate_problem, split_of
from training.logistic import fit_logistic

STORE = "model_store/default"
ENGINE = os.environ.get("GLORE_PROBE_MODELS", STORE)
"""What drafts and refines in `candidates`: the store, or a spec file (E25e); the features
are always the store's verifier base's, which every run seeded from it shares."""
Point = tuple[dict[str, float], int, float | None]  # features, right, store ORM score


def problems(which: str, n: int) -> list[tuple[str, Fraction]]:
    task = ArithTask()
    if which == "hard-validation":
        rng, out, seen = random.Random("arith:0:hard-validation"), [], set()
        while len(out) < n:
            p = generate_problem(rng, task.config, rng.randint(*task.config.hard_steps))
            if p is not None and p.question not in seen and split_of(p.question) == "validation":
                seen.add(p.question)
                out.append((p.question, p.answer))
        return out
    split, _, start = which.partition(":")
    skip = int(start or 0)
    return [(p.question, p.answer) for p in task.load(split, skip + n)[skip:]]


def feature_scorer() -> Any:
    from transformers import AutoModelForCausalLM

    from glore.backends.embedded.likelihood import LikelihoodScorer
    from glore.backends.embedded.model import load_hf

    model, tok = load_hf(AutoModelForCausalLM, f"{STORE}/orm", None)
    return LikelihoodScorer(model, tok, head=None, max_batch_size=64)


def candidates(which: str, n: int, out: str) -> None:
    from glore.engine import GLoRe

    todo, engine, scorer = problems(which, n), GLoRe.from_pretrained(ENGINE), feature_scorer()
    with Path(out).open("w") as f:
        for i in range(0, n, 100):
            chunk = todo[i : i + 100]
            results = engine.solve_batch([q for q, _ in chunk], "glore", mode="always")
            items = [
                (q, c.steps) for (q, _), r in zip(chunk, results, strict=True) for c in r.candidates
            ]
            feats = iter(scorer.features_sync(items))
            for (q, answer), r in zip(chunk, results, strict=True):
                cands = [
                    {
                        "name": c.name,
                        "ok": c.answer is not None
                        and answers_equal(parse_number(c.answer), Fraction(answer)),
                        "orm": c.orm_score,
                        "feats": list(next(feats)[-1]),
                    }
                    for c in r.candidates
                ]
                f.write(json.dumps({"q": q, "winner": r.winner, "cands": cands}) + "\n")


def samples(run: str, questions: int, out: str) -> None:
    rows: list[dict[str, Any]] = []
    qids: list[str] = []
    for path in sorted(Path(run, "sample", "chunks").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["qid"] not in qids and len(qids) < questions:
                qids.append(row["qid"])
            if row["qid"] in qids:
                rows.append(row)
    scorer = feature_scorer()
    with Path(out).open("w") as f:
        for i in range(0, len(rows), 256):
            chunk = rows[i : i + 256]
            feats = scorer.features_sync([(r["question"], r["steps"]) for r in chunk])
            for r, fr in zip(chunk, feats, strict=True):
                f.write(json.dumps({"q": r["qid"], "ok": r["correct"], "feats": fr[-1]}) + "\n")


def named(values: list[float]) -> dict[str, float]:
    """FEATURES by name, with the shares of unlikely tokens (length-free counts)."""
    d = dict(zip(FEATURES, values, strict=True))
    tokens = max(1.0, d["length/100"] * 100)
    d["share-1"], d["share-2"] = d["below-1/10"] * 10 / tokens, d["below-2/10"] * 10 / tokens
    return d


def load(path: str) -> list[list[Point]]:
    groups: dict[str, list[Point]] = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        if "cands" in r:
            groups[r["q"]] = [(named(c["feats"]), int(c["ok"]), c["orm"]) for c in r["cands"]]
        else:
            groups.setdefault(r["q"], []).append((named(r["feats"]), int(r["ok"]), None))
    return list(groups.values())


def matrix(groups: list[list[Point]], feats: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[p[0][k] for k in feats] for g in groups for p in g])
    return x, torch.tensor([float(p[1]) for g in groups for p in g])


def fit_pair(groups: list[list[Point]], feats: list[str]) -> torch.Tensor:
    """Bradley-Terry on each question's (right - wrong) feature differences, then a bias
    and a scale fitted pointwise to the fixed score."""
    diffs = torch.tensor(
        [
            [a[0][k] - b[0][k] for k in feats]
            for g in groups
            for a, b in itertools.permutations(g, 2)
            if a[1] and not b[1]
        ]
    )
    x, y = torch.cat([diffs, -diffs]), torch.cat([torch.ones(len(diffs)), torch.zeros(len(diffs))])
    w = fit_logistic(x, y, 1e-3, bias=False)
    xs, ys = matrix(groups, feats)
    ab = fit_logistic((xs @ w)[:, None], ys, 0.0)
    return torch.cat([w * ab[0], ab[1:]])


OBJECTIVES = ("pointwise", "pairwise")


def fit_head(groups: list[list[Point]], feats: list[str], objective: str) -> torch.Tensor:
    """Pointwise logistic, as the `orm` stage fits, or within-question Bradley-Terry."""
    if objective == "pairwise":
        return fit_pair(groups, feats)
    x, y = matrix(groups, feats)
    return fit_logistic(x, y, 1e-3)


def judge(w: torch.Tensor | None, groups: list[list[Point]], feats: list[str]) -> str:
    """Within-question ranking and the argmax rerank (margin 0) against the draft."""
    right = fixed = broken = 0
    scored: list[list[tuple[bool, float]]] = []
    for g in groups:
        s = [score(w, p, feats) for p in g]
        scored.append([(bool(p[1]), v) for p, v in zip(g, s, strict=True)])
        best = max(range(len(g)), key=lambda i: s[i])
        win = best if s[best] > s[0] else 0
        right += g[win][1]
        fixed += int(not g[0][1] and g[win][1] == 1)
        broken += int(g[0][1] == 1 and not g[win][1])
    share, pairs = within_question_ranking(scored)
    greedy = sum(g[0][1] for g in groups)
    return (
        f"ranking {share or 0:.3f} ({pairs} pairs), glore {right / len(groups):.3f}"
        f" (greedy {greedy / len(groups):.3f}; fixed {fixed}, broken {broken})"
    )


def score(w: torch.Tensor | None, p: Point, feats: list[str]) -> float:
    """The head's logit of a point, or with no head the store ORM's recorded score."""
    if w is None:
        assert p[2] is not None
        return p[2]
    return float(torch.tensor([p[0][k] for k in feats]) @ w[:-1] + w[-1])


def fit(sample_path: str, train_path: str, val_path: str, hard_path: str) -> None:
    s, c, v, h = (load(p) for p in (sample_path, train_path, val_path, hard_path))
    sets = {
        "9 (v4)": list(FEATURES),
        "length-free 7": [
            *("mean", "min", "step_mean", "step_min", "share-1", "share-2", "worst_step_mean")
        ],
        "11": [*FEATURES, "share-1", "share-2"],
    }
    print(f"store head: validation {judge(None, v, [])}; long {judge(None, h, [])}")
    for (label, feats), (data, groups) in itertools.product(
        sets.items(), {"samples": s, "candidates": c, "both": s + c}.items()
    ):
        for objective in OBJECTIVES:
            w = fit_head(groups, feats, objective)
            print(
                f"{label}, {data}, {objective}: validation {judge(w, v, feats)}; "
                f"long {judge(w, h, feats)}"
            )


def refit(train_path: str, val_path: str) -> None:
    """E25e: the nine-feature head fitted to one set of candidates (pointwise and pairwise),
    judged on another, beside the head the candidates were scored with."""
    c, v, feats = load(train_path), load(val_path), list(FEATURES)
    print(f"the spec's own head: {judge(None, v, [])}")
    for objective in OBJECTIVES:
        print(f"candidates, {objective}: {judge(fit_head(c, feats, objective), v, feats)}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "candidates":
        candidates(args[0], int(args[1]), args[2])
    elif command == "samples":
        samples(args[0], int(args[1]), args[2])
    elif command == "refit":
        refit(*args)
    else:
        fit(*args)
