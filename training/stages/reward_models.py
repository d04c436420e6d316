"""Stages `orm` and `sorm`: token classifiers with one logit, initialised from the student
(or from the recipe's verifier base, stage `verifier`), trained with binary cross-entropy
at every step end; or, with `kind: likelihood`, a reward model made of the base's
likelihood (`training.stages.likelihood`).

The ORM labels every step of a sample with its final outcome (all samples); the SORM uses
the rollout labels of the `sorm-label` stage. Same architecture, same size as each other.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from glore.labels.records import SampleRecord, StepLabels
from glore.labels.rules import orm_labels, to_step_labels
from training.context import TRAIN_DTYPE, Context
from training.recipe import OrmSpec, TrainSpec
from training.reward import (
    PairCollator,
    pair_examples,
    pairwise_loss,
    reward_examples,
    step_bce_loss,
)
from training.rundir import read_jsonl
from training.sft import PadCollator
from training.stages.sample import load_samples
from training.trainer import fit, save_model


def _classifier(base: Path) -> Any:
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(base, num_labels=1)
    config.classifier_dropout = 0.0  # the score reads exact values; dropout only blurs them
    return AutoModelForTokenClassification.from_pretrained(base, config=config, dtype=TRAIN_DTYPE)


def _train(
    ctx: Context, name: str, items: list[StepLabels], spec: TrainSpec, pairwise: float = 0.0
) -> dict[str, Any]:
    """Fit and save; with `pairwise` > 0 (the ORM's), on within-question pairs."""
    started = time.time()
    tok = ctx.tokenizer()
    collator: PadCollator
    if pairwise > 0 and isinstance(spec, OrmSpec):
        examples = pair_examples(
            tok, items, spec.pairs_per_question, ctx.recipe.model.max_len, ctx.recipe.seed
        )
        collator, loss = PairCollator(tok.pad_token_id, torch.float), pairwise_loss(pairwise)
    else:
        examples = reward_examples(tok, items, ctx.recipe.model.max_len)
        collator, loss = PadCollator(tok.pad_token_id, torch.float), step_bce_loss
    work: Path = ctx.run.stage(name)
    model, summary = fit(
        _classifier(ctx.base_dir(name)),
        examples,
        collator,
        spec,
        work,
        seed=ctx.recipe.seed,
        bf16=ctx.recipe.model.bf16,
        lora=ctx.recipe.model.lora,
        task_type="TOKEN_CLS",
        compute_loss_func=loss,
    )
    save_model(model, tok, work / "model")
    labelled = sum(v is not None for x in items for v in x.labels)
    questions = len({x.qid for x in items})
    summary = {**summary, "init": ctx.base_label(name), "labelled_steps": labelled}
    summary["questions"] = questions
    return ctx.run.finish(name, summary, started)


def orm_items(samples: list[SampleRecord], spec: OrmSpec) -> list[StepLabels]:
    """The ORM's labelled samples: those of the first `spec.questions` questions (0: all)."""
    if spec.questions:
        first: dict[str, None] = {}
        for s in samples:
            first.setdefault(s.qid)
        kept = set(list(first)[: spec.questions])
        samples = [s for s in samples if s.qid in kept]
    return [to_step_labels(s, orm_labels(s)) for s in samples if s.steps]


def run_orm(ctx: Context) -> dict[str, Any]:
    spec = ctx.recipe.orm
    items = orm_items(load_samples(ctx), spec)
    if spec.kind == "likelihood":
        from training.stages import likelihood

        return likelihood.run(ctx, "orm", items)
    return _train(ctx, "orm", items, spec, spec.pairwise)


def sorm_items(items: list[StepLabels], labels: str) -> list[StepLabels]:
    """The SORM's training labels (`SormSpec.labels`): as balancing left them, or "raw",
    every rollout label (an item stored before `raw` existed keeps its labels)."""
    if labels == "raw":
        return [replace(x, labels=list(x.raw or x.labels)) for x in items]
    return items


def run_sorm(ctx: Context) -> dict[str, Any]:
    path = ctx.run.stage("sorm-label") / "sorm_labels.jsonl"
    items = sorm_items([StepLabels(**row) for row in read_jsonl(path)], ctx.recipe.sorm.labels)
    if ctx.recipe.sorm.kind == "likelihood":
        from training.stages import likelihood

        return likelihood.run(ctx, "sorm", items)
    return _train(ctx, "sorm", items, ctx.recipe.sorm)
