"""Stage `orm` with `orm.kind: likelihood`: the ORM is the verifier base itself, read as
(mean, min token log-probability, length) of a solution, with a logistic head fitted to the
outcome labels of the student's samples (`glore.backends.embedded.likelihood`).

Nothing is fine-tuned: the base learnt the task's solutions (stage `verifier`), and the
labels, the samples' final answers as for any ORM, only weigh its three numbers. The stage
writes the base and the head into `orm/model`, a folder the engine loads as this ORM.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from typing import Any

import torch
from tqdm import tqdm

from glore.backends.embedded.likelihood import FEATURES, LikelihoodHead, LikelihoodScorer
from glore.backends.embedded.model import load_hf
from glore.labels.records import StepLabels
from training import dist
from training.context import Context
from training.logistic import fit_logistic

NAME = "orm"
log = logging.getLogger(__name__)
L2 = 1e-3
"""The head's L2 penalty (E13's; three weights fitted on thousands of samples barely need one)."""
PER_CALL = 256
"""Samples per scoring call: a progress tick, and what one call's prefix cache shares."""


def sample_features(ctx: Context, items: list[StepLabels]) -> torch.Tensor:
    """Each sample's features at its last step under the ORM's base, as the engine reads them."""
    from transformers import AutoModelForCausalLM

    model, tok = load_hf(AutoModelForCausalLM, ctx.base_dir(NAME), None)
    scorer = LikelihoodScorer(model, tok, head=None, max_batch_size=ctx.recipe.gen_batch)
    rows: list[tuple[float, ...]] = []
    for start in tqdm(range(0, len(items), PER_CALL), desc="orm features", unit="call"):
        batch = [(x.question, x.steps) for x in items[start : start + PER_CALL]]
        rows += [steps[-1] for steps in scorer.features_sync(batch)]
    return torch.tensor(rows, dtype=torch.float)


def ranking(scores: list[float], items: list[StepLabels], right: list[bool]) -> float | None:
    """Share of one question's (right, wrong) sample pairs the scores put in order."""
    by_q: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for s, x, ok in zip(scores, items, right, strict=True):
        by_q[x.qid].append((s, ok))
    won = total = 0
    for rows in by_q.values():
        for s_right, ok in rows:
            for s_wrong, bad in rows:
                if ok and not bad:
                    total += 1
                    won += s_right > s_wrong
    return None if not total else round(won / total, 4)


def run(ctx: Context, items: list[StepLabels]) -> dict[str, Any]:
    started = time.time()
    if not dist.is_main():  # the fit takes minutes on one process; the others wait for it
        return ctx.run.wait_summary(NAME, dist.timeout().total_seconds())
    right = [x.labels[-1] == 1 for x in items]
    x = sample_features(ctx, items)
    y = torch.tensor(right, dtype=torch.float)
    w = fit_logistic(x, y, L2)
    head = LikelihoodHead((float(w[0]), float(w[1]), float(w[2])), float(w[3]))
    logits = torch.cat([x, torch.ones(len(x), 1)], 1) @ w
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y))
    summary = {
        "kind": "likelihood",
        "init": f"{ctx.base_label(NAME)}, likelihood head",
        "samples": len(items),
        "questions": len({i.qid for i in items}),
        "positives": round(sum(right) / max(1, len(right)), 4),
        "features": list(FEATURES),
        "weights": [round(v, 4) for v in head.weights],
        "bias": round(head.bias, 4),
        "log_loss": round(loss, 4),
        "train_ranking": ranking(logits.tolist(), items, right),
    }
    if len(set(right)) < 2:  # a head fitted to one class says only that class
        summary["degenerate"] = "every sample has the same outcome: the head ranks nothing"
        log.warning("stage orm: %s", summary["degenerate"])
    out = ctx.run.stage(NAME) / "model"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(ctx.base_dir(NAME), out)
    head.save(out, fitted_on={k: summary[k] for k in ("samples", "questions", "log_loss")})
    return ctx.run.finish(NAME, summary, started)
