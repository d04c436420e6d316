"""A diagnostic, not a verifier: rank each question's cached glore candidates by a causal
LM's mean (and minimum) token log-probability of the solution, with the numbers
`glore calibrate` reports for an ORM (within-question ranking, argmax accuracy).

It asks whether an LM's likelihood holds the signal a verifier would need, before a verifier
is trained from that LM (docs/results/ablations.md):

    python -m evaluation.likelihood_probe runs/calib/val300.json model_store/default/student

The candidates file is `glore calibrate --candidates`' cache. With `--fit RUN/sample/chunks`
it instead weighs (mean, min, length) by logistic heads fitted to a run's samples and their
outcome labels: a verifier made of the likelihood, trained as an ORM is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from evaluation.calibrate import Scored, outcomes
from glore.engine.rules import ARGMAX
from glore.formats import scorer_prompt, student_prompt


def token_logprobs(lm: Any, tok: Any, question: str, steps: Sequence[str]) -> torch.Tensor:
    """Log-probabilities of the solution's tokens (not the question's) under `lm`."""
    prompt = len(tok(student_prompt(question).text)["input_ids"])
    ids = torch.tensor([tok(scorer_prompt(question, steps).text)["input_ids"]])
    with torch.inference_mode():
        logp = torch.log_softmax(lm(input_ids=ids).logits[0, :-1].float(), dim=-1)
    picked = logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return picked[prompt - 1 :]


def probe(cache: list[dict[str, Any]], model_dir: Path) -> dict[str, Any]:
    """Ranking and argmax of both statistics over the cached candidates."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lm.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    stats: dict[str, list[list[Scored]]] = {"mean": [], "min": []}
    for q in cache:
        rows: dict[str, list[Scored]] = {"mean": [], "min": []}
        for c in q["candidates"]:
            lp = token_logprobs(lm, tok, q["question"], c["steps"]) if c["steps"] else None
            for name, row in rows.items():
                value = -1e9 if lp is None else float(lp.mean() if name == "mean" else lp.min())
                row.append(Scored(c["name"], bool(c["right"]), value, True))
        for name, row in rows.items():
            stats[name].append(row)
    report = {}
    for name, table in stats.items():
        argmax = outcomes(table, ARGMAX, "orm")
        keys = ("ranking", "ranking_pairs", "accuracy", "fix_rate", "break_rate", "oracle")
        report[name] = {k: argmax[k] for k in keys}
    report["greedy"] = round(sum(q["candidates"][0]["right"] for q in cache) / len(cache), 4)
    return report


def _features(lp: torch.Tensor) -> list[float]:
    return [float(lp.mean()), float(lp.min()), float(len(lp)) / 100]


def _value(features: list[float] | None, w: torch.Tensor) -> float:
    """A head's score; an empty candidate ranks last."""
    return -1e9 if features is None else float(torch.tensor([*features, 1.0]) @ w)


def fitted(
    cache: list[dict[str, Any]], model_dir: Path, samples: list[dict[str, Any]], l2: float = 1e-3
) -> dict[str, Any]:
    """A verifier of three numbers: (mean, min token log-probability, length) of a solution
    under `model_dir`, weighted by logistic heads fitted to `samples` (a `sample` stage's
    rows): `outcome` on their final-answer labels, `pairwise` on within-question pairs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evaluation.feature_probe import pair_differences
    from training.logistic import fit_logistic

    lm: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lm.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    samples = [s for s in samples if s["steps"]]
    x = torch.tensor(
        [_features(token_logprobs(lm, tok, s["question"], s["steps"])) for s in samples]
    )
    right = [bool(s["correct"]) for s in samples]
    pairs = pair_differences(x, [s["qid"] for s in samples], right, seed=0)
    heads = {
        "outcome": fit_logistic(x, torch.tensor(right, dtype=torch.float), l2),
        "pairwise": torch.cat([fit_logistic(*pairs, l2, bias=False), torch.zeros(1)]),
    }
    report: dict[str, Any] = {"samples": len(samples), "features": ["mean", "min", "length/100"]}
    feats = [
        [
            _features(token_logprobs(lm, tok, q["question"], c["steps"])) if c["steps"] else None
            for c in q["candidates"]
        ]
        for q in cache
    ]  # once, for both heads
    for name, w in heads.items():
        table = [
            [
                Scored(c["name"], bool(c["right"]), _value(f, w), True)
                for c, f in zip(q["candidates"], row, strict=True)
            ]
            for q, row in zip(cache, feats, strict=True)
        ]
        argmax = outcomes(table, ARGMAX, "orm")
        keys = ("ranking", "ranking_pairs", "accuracy", "fix_rate", "break_rate", "oracle")
        weights = [round(v, 4) for v in w.tolist()]
        report[name] = {"weights": weights, **{k: argmax[k] for k in keys}}
    return report


def main(argv: Sequence[str]) -> None:
    import argparse

    from evaluation.feature_probe import sample_rows

    parser = argparse.ArgumentParser(prog="python -m evaluation.likelihood_probe")
    parser.add_argument("candidates", type=Path, help="glore calibrate --candidates' cache")
    parser.add_argument("model", type=Path, help="a causal LM folder")
    parser.add_argument("--fit", type=Path, help="a run's sample/chunks: fit heads to it")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cache = json.loads(args.candidates.read_text())["questions"]
    if args.fit is None:
        print(json.dumps(probe(cache, args.model), indent=1))
    else:
        print(json.dumps(fitted(cache, args.model, sample_rows(args.fit)), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
