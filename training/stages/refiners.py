"""Stages `global` and `local`: the refiners, fine-tuned from the student (or, with
`init: verifier`, from the verifier base) on their pairs (with `pairs: both`, on the other
refiner's as well) (loss on the target only),
reading exactly the prompts serving builds. A refiner already saved in the stage's
`model/` (an interrupted run's, or one copied in) is reused, as the student stage reuses
its own; the summary then says `reused`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from glore.formats import global_prompt, local_prompt
from glore.labels.records import RefinePair
from training.context import TRAIN_DTYPE, Context
from training.recipe import RefinerSpec
from training.rundir import read_jsonl
from training.sft import PadCollator, sft_examples
from training.stages.refine_data import NAME as REFINE_DATA
from training.trainer import fit, save_model, saved


def pair_text(pair: RefinePair) -> tuple[str, str]:
    """(prompt, target) of a pair; a local target continues after the kept steps."""
    if pair.kind == "local":
        assert pair.first_error is not None
        prompt = local_prompt(pair.question, pair.draft, pair.first_error).text
    else:
        prompt = global_prompt(pair.question, pair.draft).text
    return prompt, "\n".join(pair.target)


def refiner_pairs(folder: Path, kind: str, which: str) -> list[RefinePair]:
    """The pairs a refiner of `kind` learns from, in `folder` (the run's refine-data):
    its own kind's, then, with `which` "both", the other kind's."""
    kinds = [kind] + ([k for k in ("global", "local") if k != kind] if which == "both" else [])
    return [RefinePair(**row) for k in kinds for row in read_jsonl(folder / f"{k}.jsonl")]


ADAPTER = "adapter"
"""With `model.lora`, the refiner's LoRA adapter on the student is kept here as well as
merged into `model/`: the export copies it to `adapters/` for vLLM's `--lora-modules`."""


def _init(ctx: Context, spec: RefinerSpec) -> str:
    """The manifest's `init` of a refiner."""
    return ctx.base_label("orm") if spec.init == "verifier" else "student"


def _train(ctx: Context, kind: str, spec: RefinerSpec) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    started = time.time()
    work = ctx.run.stage(kind)
    init = _init(ctx, spec)
    if saved(work / "model"):  # what an earlier run saved, as the student stage does
        return ctx.run.finish(kind, {"init": init, "reused": True}, started)
    tok = ctx.tokenizer()
    pairs = refiner_pairs(ctx.run.stage(REFINE_DATA), kind, spec.pairs)
    examples, dropped = sft_examples(tok, [pair_text(p) for p in pairs], ctx.recipe.model.max_len)
    model, summary = fit(
        AutoModelForCausalLM.from_pretrained(
            ctx.verifier_dir if spec.init == "verifier" else ctx.student_dir, dtype=TRAIN_DTYPE
        ),
        examples,
        PadCollator(tok.pad_token_id),
        spec,
        work,
        seed=ctx.recipe.seed,
        bf16=ctx.recipe.model.bf16,
        lora=ctx.recipe.model.lora,
        adapter_dir=work / ADAPTER,
    )
    save_model(model, tok, work / "model")
    return ctx.run.finish(kind, {**summary, "init": init, "dropped_too_long": dropped}, started)


def run_global(ctx: Context) -> dict[str, Any]:
    return _train(ctx, "global", ctx.recipe.global_refiner)


def run_local(ctx: Context) -> dict[str, Any]:
    return _train(ctx, "local", ctx.recipe.local_refiner)
