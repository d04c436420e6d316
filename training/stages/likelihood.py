"""Stages `orm` and `sorm` with `kind: likelihood`: the reward model is its base itself
(`Context.base_dir`), read as its likelihood features of each step prefix (the role's
`features`; `glore.backends.likelihood_head`), with a logistic head fitted to its labels.

Nothing is fine-tuned: the base learnt the task's solutions, and the labels only weigh its
few numbers. The ORM's head is fitted at each sample's last step to its outcome; the
SORM's at every labelled step prefix to its rollout label (stage `sorm-label`), so each
role's probability is calibrated for what it is asked. The stage writes the base and the
head into `<role>/model`, a folder the engine loads as that reward model.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from typing import Any

import torch
from tqdm import tqdm

from glore.backends.embedded.likelihood import LikelihoodHead, LikelihoodScorer
from glore.backends.embedded.model import load_hf
from glore.backends.likelihood_head import Features, select
from glore.labels.metrics import within_question_ranking
from glore.labels.records import StepLabels
from training import dist
from training.context import Context
from training.logistic import fit_logistic

log = logging.getLogger(__name__)
L2 = 1e-3
"""The head's L2 penalty (E13's; a few weights fitted on thousands of points barely need one)."""
PER_CALL = 256
"""Samples per scoring call: a progress tick, and what one call's prefix cache shares."""


def step_features(ctx: Context, role: str, items: list[StepLabels]) -> list[list[Features]]:
    """Each sample's features at each step end under `role`'s base, as the engine reads them."""
    from transformers import AutoModelForCausalLM

    model, tok = load_hf(AutoModelForCausalLM, ctx.base_dir(role), None)
    scorer = LikelihoodScorer(model, tok, head=None, max_batch_size=ctx.recipe.gen_batch)
    rows: list[list[Features]] = []
    for start in tqdm(range(0, len(items), PER_CALL), desc=f"{role} features", unit="call"):
        rows += scorer.features_sync(
            [(x.question, x.steps) for x in items[start : start + PER_CALL]]
        )
    return rows


def points(
    role: str, items: list[StepLabels], features: list[list[Features]]
) -> tuple[list[Features], list[int], list[tuple[str, int]]]:
    """(features, label, group) of every point the head is fitted on: the ORM's at each
    sample's last step (group: the question), the SORM's at each step whose label balancing
    kept (group: the question and step position)."""
    xs: list[Features] = []
    ys: list[int] = []
    where: list[tuple[str, int]] = []
    for item, steps in zip(items, features, strict=True):
        labelled = [(len(steps) - 1, item.labels[-1])] if role == "orm" else enumerate(item.labels)
        for j, label in labelled:
            if label is not None:
                xs.append(steps[j])
                ys.append(int(label))
                where.append((item.qid, -1 if role == "orm" else j))
    return xs, ys, where


def ranking(scores: list[float], groups: list[tuple[str, int]], right: list[int]) -> float | None:
    """Share of one group's (right, wrong) point pairs the scores put in order (ties half;
    `glore.labels.metrics.within_question_ranking` over the groups)."""
    by_group: dict[tuple[str, int], list[tuple[bool, float]]] = defaultdict(list)
    for s, key, ok in zip(scores, groups, right, strict=True):
        by_group[key].append((bool(ok), s))
    share, _ = within_question_ranking(list(by_group.values()))
    return None if share is None else round(share, 4)


def run(ctx: Context, role: str, items: list[StepLabels]) -> dict[str, Any]:
    started = time.time()
    if not dist.is_main():  # the fit takes minutes on one process; the others wait for it
        return ctx.run.wait_summary(role, dist.timeout().total_seconds())
    names = (ctx.recipe.orm if role == "orm" else ctx.recipe.sorm).features
    xs, ys, where = points(role, items, step_features(ctx, role, items))
    x = torch.tensor(select(xs, names), dtype=torch.float).reshape(-1, len(names))
    y = torch.tensor(ys, dtype=torch.float)
    # No point (every label masked): a head of zeros, 0.5 everywhere, marked degenerate.
    w = fit_logistic(x, y, L2) if ys else torch.zeros(len(names) + 1)
    head = LikelihoodHead(tuple(float(v) for v in w[:-1]), float(w[-1]), names)
    logits = torch.cat([x, torch.ones(len(x), 1)], 1) @ w
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y)) if ys else 0.0
    summary = {
        "kind": "likelihood",
        "init": f"{ctx.base_label(role)}, likelihood head",
        "samples": len(items),
        "questions": len({i.qid for i in items}),
        "points": len(ys),
        "positives": round(sum(ys) / max(1, len(ys)), 4),
        "features": list(names),
        "weights": [round(v, 4) for v in head.weights],
        "bias": round(head.bias, 4),
        "log_loss": round(loss, 4),
        "train_accuracy": round(float(((logits > 0).float() == y).float().mean()), 4)
        if ys
        else None,
        "train_ranking": ranking(logits.tolist(), where, ys),
    }
    if len(set(ys)) < 2:  # a head fitted to one class (or none) says only that class
        summary["degenerate"] = "every point has the same label: the head ranks nothing"
        log.warning("stage %s: %s", role, summary["degenerate"])
    out = ctx.run.stage(role) / "model"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(ctx.base_dir(role), out)
    head.save(out, fitted_on={k: summary[k] for k in ("samples", "points", "log_loss")})
    return ctx.run.finish(role, summary, started)
