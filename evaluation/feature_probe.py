"""A diagnostic, not a verifier: can a linear head read the within-question signal from an
LM's hidden state where the ORM reads its score (the last step end), with the LM frozen,
and can it from the states averaged over the solution's tokens?

An ORM is that head plus fine-tuning. When ORMs trained from a base stay at chance while the
base's own likelihood ranks the candidates (docs/results/ablations.md, E10-E12), this tells
the two possible reasons apart: the signal is not in the states a head reads (a classifier
head cannot work from this base, whatever the objective), or it is there and the training
does not find it. Two heads on the frozen states of a run's cached student samples:

- `outcome`: logistic regression on every sample's final-answer label (the ORM's labels);
- `pairwise`: logistic regression on the state differences of (right, wrong) pairs of one
  question's samples (a Bradley-Terry head, blind to what differs between questions).

Both are fitted on each of the two poolings of the states (`last`, `mean`), and each then
scores the cached validation candidates, with `glore calibrate`'s numbers:

    python -m evaluation.feature_probe runs/calib/val300.json MODEL_DIR RUN/sample/chunks
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from evaluation.calibrate import Scored, outcomes
from glore.engine.rules import ARGMAX
from glore.formats import scorer_prompt, step_end_tokens, student_prompt
from training.logistic import fit_logistic

Solution = tuple[str, Sequence[str]]
KEYS = ("ranking", "ranking_pairs", "accuracy", "fix_rate", "break_rate", "oracle")


def sample_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of a run's `sample/chunks` folder, in chunk order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open() as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def solution_states(
    lm: Any, tok: Any, items: Sequence[Solution], batch: int = 64
) -> dict[str, torch.Tensor]:
    """The last layer's states of each solution: `last`, at its last step end, as the ORM's
    head sees it; `mean`, averaged over the solution's tokens up to there, which is where a
    likelihood gathers its evidence."""
    encs = [step_end_tokens(tok, scorer_prompt(q, steps)) for q, steps in items]
    starts = [len(tok(student_prompt(q).text)["input_ids"]) for q, _ in items]
    last, pooled = [], []
    for lo in range(0, len(encs), batch):
        part = encs[lo : lo + batch]
        width = max(len(e.input_ids) for e in part)
        ids = torch.full((len(part), width), tok.pad_token_id)
        mask = torch.zeros((len(part), width), dtype=torch.long)
        for i, e in enumerate(part):
            ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
            mask[i, : len(e.input_ids)] = 1
        with torch.inference_mode():
            out = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        h = out.hidden_states[-1].float()
        for i, e in enumerate(part):
            end = e.step_ends[-1]
            last.append(h[i, end].clone())  # a view would keep the batch's states alive
            pooled.append(h[i, min(starts[lo + i], end) : end + 1].mean(0))
    return {"last": torch.stack(last), "mean": torch.stack(pooled)}


def pair_differences(
    states: torch.Tensor, qids: Sequence[str], right: Sequence[bool], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(right - wrong) differences of one question's samples, each pair in a random order,
    labelled 1 where the right sample comes first."""
    by_q: dict[str, tuple[list[int], list[int]]] = {}
    for i, (qid, ok) in enumerate(zip(qids, right, strict=True)):
        by_q.setdefault(qid, ([], []))[0 if ok else 1].append(i)
    rng = random.Random(seed)
    diffs, labels = [], []
    for good, bad in by_q.values():
        for g in good:
            for b in bad:
                flip = rng.random() < 0.5
                diffs.append(states[b] - states[g] if flip else states[g] - states[b])
                labels.append(0.0 if flip else 1.0)
    if not diffs:
        raise ValueError("no question has both a right and a wrong sample")
    return torch.stack(diffs), torch.tensor(labels)


def argmax_outcomes(cache: list[dict[str, Any]], values: list[list[float]]) -> dict[str, Any]:
    """The rerank numbers (`KEYS`) of cached candidates scored `values` (per question, per
    candidate), the highest winning."""
    table = [
        [
            Scored(c["name"], bool(c["right"]), v, True)
            for c, v in zip(q["candidates"], row, strict=True)
        ]
        for q, row in zip(cache, values, strict=True)
    ]
    argmax = outcomes(table, ARGMAX, "orm")
    return {k: argmax[k] for k in KEYS}


def probe(
    cache: list[dict[str, Any]], model_dir: Path, samples: list[dict[str, Any]], l2: float = 1e-3
) -> dict[str, Any]:
    """Both heads, fitted on `samples` (rows of a `sample` stage), scored on `cache`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lm.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    samples = [s for s in samples if s["steps"]]
    train_states = solution_states(lm, tok, [(s["question"], s["steps"]) for s in samples])
    right = [bool(s["correct"]) for s in samples]
    scored = [(i, j) for i, q in enumerate(cache) for j, c in enumerate(q["candidates"])]
    has = [(i, j) for i, j in scored if cache[i]["candidates"][j]["steps"]]
    items = [(cache[i]["question"], cache[i]["candidates"][j]["steps"]) for i, j in has]
    cand_states = solution_states(lm, tok, items)
    report: dict[str, Any] = {"samples": len(samples), "l2": l2}
    for pool, raw in train_states.items():
        mean, std = raw.mean(0), raw.std(0) + 1e-6
        train = (raw - mean) / std
        cands = torch.cat([(cand_states[pool] - mean) / std, torch.ones(len(items), 1)], 1)
        pairs = pair_differences(train, [s["qid"] for s in samples], right, seed=0)
        heads = {
            "outcome": fit_logistic(train, torch.tensor(right, dtype=torch.float), l2),
            # a difference has no bias; candidates carry a constant 1, so give it weight 0
            "pairwise": torch.cat([fit_logistic(*pairs, l2, bias=False), torch.zeros(1)]),
        }
        fitted = ((pairs[0] @ heads["pairwise"][:-1] > 0).float() == pairs[1]).float().mean()
        row: dict[str, Any] = {
            "train_pairs": len(pairs[1]),
            "pairwise_train_ranking": round(float(fitted), 4),  # the fit on its own pairs
        }
        for name, w in heads.items():
            values = [[-1e9] * len(q["candidates"]) for q in cache]
            for (i, j), v in zip(has, (cands @ w).tolist(), strict=True):
                values[i][j] = v
            row[name] = argmax_outcomes(cache, values)
        report[pool] = row
    return report


def main(argv: Sequence[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evaluation.feature_probe")
    parser.add_argument("candidates", type=Path, help="glore calibrate --candidates' cache")
    parser.add_argument("model", type=Path, help="a causal LM folder (the base to probe)")
    parser.add_argument("samples", type=Path, help="a run's sample/chunks folder")
    parser.add_argument("--questions", type=int, default=0, help="first N questions (0: all)")
    parser.add_argument("--l2", type=float, default=1e-3, help="L2 penalty of both heads")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cache = json.loads(args.candidates.read_text())["questions"]
    rows = sample_rows(args.samples)
    if args.questions:
        keep = list(dict.fromkeys(r["qid"] for r in rows))[: args.questions]
        rows = [r for r in rows if r["qid"] in set(keep)]
    print(json.dumps(probe(cache, args.model, rows, args.l2), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
