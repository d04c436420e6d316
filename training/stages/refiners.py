"""Stages `global` and `local`: the refiners, fine-tuned from the student (or, with
`init: verifier`, from the verifier base) on their pairs (loss on the target only),
reading exactly the prompts serving builds. A refiner already saved in the stage's
`model/` (an interrupted run's, or one copied in) is reused, as the student stage reuses
its own; the summary then says `reused`."""

from __future__ import annotations

import time
from typing import Any

from glore.formats import global_prompt, local_prompt
from glore.labels.records import RefinePair
from training.context import TRAIN_DTYPE, Context
from training.recipe import RefinerSpec
from training.sft import PadCollator, sft_examples
from training.stages.refine_data import load_pairs
from training.trainer import fit, save_model, saved


def pair_text(pair: RefinePair) -> tuple[str, str]:
    """(prompt, target) of a pair; a local target continues after the kept steps."""
    if pair.kind == "local":
        assert pair.first_error is not None
        prompt = local_prompt(pair.question, pair.draft, pair.first_error).text
    else:
        prompt = global_prompt(pair.question, pair.draft).text
    return prompt, "\n".join(pair.target)


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
    pairs = load_pairs(ctx, kind)
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
