"""Stage `verifier`: the base model the ORM and the SORM start from, when a recipe gives
them one of their own (`verifier`); without one they start from the student and the stage
only records so.

Either way the base has seen nothing the student did not: it is the student grown by block
expansion, or a larger LM trained from scratch on the student's supervised data. The
verifiers' labels still come only from the student's samples and rollouts (stages `orm`,
`sorm`).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from typing import Any

import torch

from glore.errors import ConfigError
from glore.modeling.presets import new_causal_lm
from training.context import TRAIN_DTYPE, Context
from training.stages.student import reference_pairs, train_once
from training.trainer import save_model

NAME = "verifier"


def expand_blocks(model: Any, added: int) -> Any:
    """`model` (a Llama-family causal LM) with `added` more decoder blocks, as LLaMA Pro
    does: the blocks are cut into `added` groups of (nearly) equal size, and
    after each group goes a copy of its last block whose attention output and MLP down
    projections are zero, so every new block adds nothing to the residual stream and the
    grown model's outputs equal the original's."""
    layers = model.model.layers
    count = len(layers)
    if not 1 <= added <= 4 * count:
        raise ConfigError(
            f"recipe key 'verifier.expand': add 1..{4 * count} blocks to a student of "
            f"{count}, not {added}"
        )
    after = Counter(round((g + 1) * count / added) - 1 for g in range(added))
    grown = []
    for i, layer in enumerate(layers):
        grown.append(layer)
        grown += [_silent_copy(layer) for _ in range(after[i])]
    for index, layer in enumerate(grown):
        layer.self_attn.layer_idx = index  # each block's slot in the KV cache
    model.model.layers = torch.nn.ModuleList(grown)
    model.config.num_hidden_layers = len(grown)
    return model


def _silent_copy(layer: Any) -> Any:
    """A copy of a decoder block that adds nothing to the residual stream (yet)."""
    block = copy.deepcopy(layer)
    with torch.no_grad():
        block.self_attn.o_proj.weight.zero_()
        block.mlp.down_proj.weight.zero_()
    return block


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    spec = ctx.recipe.verifier
    if spec is None:
        return ctx.run.finish(NAME, {"init": "student", "trained": False}, started)
    tok = ctx.tokenizer()
    work = ctx.run.stage(NAME)
    sft: dict[str, Any] = {}
    if spec.expand:
        from transformers import AutoModelForCausalLM

        student = AutoModelForCausalLM.from_pretrained(ctx.student_dir, dtype=TRAIN_DTYPE)
        model = expand_blocks(student, spec.expand)
        save_model(model, tok, work / "model")
    else:
        fresh = new_causal_lm(spec.preset, tok, ctx.recipe.seed)
        model, sft = train_once(ctx, work, fresh, reference_pairs(ctx), spec.train)
    summary = {
        "init": spec.label,
        "trained": not spec.expand,
        "layers": int(model.config.num_hidden_layers),
        "parameters": sum(p.numel() for p in model.parameters()),
        "sft": sft,
    }
    return ctx.run.finish(NAME, summary, started)
