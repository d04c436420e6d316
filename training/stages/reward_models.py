"""Stages `orm` and `sorm`: token classifiers with one logit, initialised from the student,
trained with binary cross-entropy at every step end.

The ORM labels every step of a sample with its final outcome (all samples); the SORM uses
the rollout labels of the `sorm-label` stage. Same architecture, same size.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from training.context import MAX_LEN, Context
from training.labels import orm_labels, to_step_labels
from training.recipe import TrainSpec
from training.records import StepLabels
from training.reward import reward_examples, step_bce_loss
from training.rundir import read_jsonl
from training.sft import PadCollator
from training.stages.sample import load_samples
from training.trainer import fit, save_model


def _classifier_from_student(ctx: Context) -> Any:
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(ctx.student_dir, num_labels=1)
    config.classifier_dropout = 0.0  # the score reads exact values; dropout only blurs them
    return AutoModelForTokenClassification.from_pretrained(ctx.student_dir, config=config)


def _train(ctx: Context, name: str, items: list[StepLabels], spec: TrainSpec) -> dict[str, Any]:
    started = time.time()
    tok = ctx.tokenizer()
    examples = reward_examples(tok, items, MAX_LEN)
    work: Path = ctx.run.stage(name)
    model, summary = fit(
        _classifier_from_student(ctx),
        examples,
        PadCollator(tok.pad_token_id, torch.float),
        spec,
        work,
        seed=ctx.recipe.seed,
        bf16=ctx.recipe.model.bf16,
        lora=ctx.recipe.model.lora,
        task_type="TOKEN_CLS",
        compute_loss_func=step_bce_loss,
    )
    save_model(model, tok, work / "model")
    labelled = sum(v is not None for x in items for v in x.labels)
    summary = {**summary, "init": "student", "labelled_steps": labelled}
    return ctx.run.finish(name, summary, started)


def run_orm(ctx: Context) -> dict[str, Any]:
    items = [to_step_labels(s, orm_labels(s)) for s in load_samples(ctx) if s.steps]
    return _train(ctx, "orm", items, ctx.recipe.orm)


def run_sorm(ctx: Context) -> dict[str, Any]:
    path = ctx.run.stage("sorm-label") / "sorm_labels.jsonl"
    items = [StepLabels(**row) for row in read_jsonl(path)]
    return _train(ctx, "sorm", items, ctx.recipe.sorm)
