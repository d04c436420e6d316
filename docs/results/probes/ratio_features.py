"""E33 probe: does the student's own likelihood of a candidate, beside the verifier's, help
the ORM rank one question's candidates?

The served ORM reads nine likelihood features of a candidate under the verifier base. This
probe adds the same nine under the student and their differences (verifier - student: how
much more the verifier believes a token than the student that wrote it), fits logistic heads
on one part of the cached validation candidates and scores another, against a head over the
verifier's nine alone fitted on the same part, and the store's own head.

    python docs/results/probes/ratio_features.py CANDIDATES.json [STORE] [--fit-from 300]

CANDIDATES is `glore calibrate --candidates`' cache (draft, global, local per question).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from evaluation.feature_probe import argmax_outcomes
from glore.backends.embedded.likelihood import LikelihoodHead, LikelihoodScorer
from glore.backends.embedded.model import load_hf
from training.logistic import fit_logistic


def final_features(folder: Path, cache: list[dict[str, Any]]) -> list[list[list[float] | None]]:
    """Every candidate's nine features at its last step under the LM in `folder`."""
    from transformers import AutoModelForCausalLM

    model, tok = load_hf(AutoModelForCausalLM, folder, None)
    scorer = LikelihoodScorer(model, tok, head=None, max_batch_size=64)
    items = [(q["question"], c["steps"]) for q in cache for c in q["candidates"] if c["steps"]]
    feats = iter(scorer.features_sync(items))
    return [[list(next(feats)[-1]) if c["steps"] else None for c in q["candidates"]] for q in cache]


def design(v: list[float] | None, s: list[float] | None, kind: str) -> list[float] | None:
    if v is None or s is None:
        return None
    v, s = v[:9], s[:9]  # the v4 ORM's nine features
    if kind == "verifier":
        return v
    diff = [a - b for a, b in zip(v, s, strict=True)]
    return v + s if kind == "both" else v + diff[:2] + diff[3:5]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("candidates", type=Path)
    parser.add_argument("store", type=Path, nargs="?", default=Path("model_store/default"))
    parser.add_argument("--fit-from", type=int, default=300, help="fit on questions from here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    cache = json.loads(args.candidates.read_text())["questions"]
    ver = final_features(args.store / "orm", cache)
    stu = final_features(args.store / "student", cache)
    head = LikelihoodHead.load(args.store / "orm")
    judged, fit = cache[: args.fit_from], cache[args.fit_from :]
    report: dict[str, Any] = {"judged": len(judged), "fit_on": len(fit)}
    store = [[-1e9 if f is None else head.probability(tuple(f)) for f in q] for q in ver]
    report["store_head"] = argmax_outcomes(judged, store[: args.fit_from])
    for kind in ("verifier", "both", "diff"):
        x = [
            [design(v, s, kind) for v, s in zip(qv, qs, strict=True)]
            for qv, qs in zip(ver, stu, strict=True)
        ]
        pts = [
            (f, c["right"])
            for q, qx in zip(fit, x[args.fit_from :], strict=True)
            for c, f in zip(q["candidates"], qx, strict=True)
            if f is not None
        ]
        w = fit_logistic(
            torch.tensor([p[0] for p in pts]), torch.tensor([float(p[1]) for p in pts]), 1e-3
        )
        score = [
            [-1e9 if f is None else float(torch.tensor([*f, 1.0]) @ w) for f in qx]
            for qx in x[: args.fit_from]
        ]
        report[kind] = argmax_outcomes(judged, score)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
