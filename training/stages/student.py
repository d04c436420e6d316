"""Stage `student`: supervised training on reference solutions, then expert iteration.

Expert iteration (as in the paper): sample k solutions per training question at
temperature 1, keep the distinct correct ones, fine-tune on them; `ei_rounds` times.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.formats import student_prompt
from glore.modeling.presets import new_causal_lm
from training import dist
from training.context import TRAIN_DTYPE, Context
from training.evaluate import greedy_accuracy, questions_per_call, solve_all
from training.recipe import TrainSpec
from training.sft import PadCollator, sft_examples
from training.trainer import fit, save_model, saved

NAME = "student"


def _fresh(ctx: Context, tok: Any) -> Any:
    spec = ctx.recipe.model
    if spec.base is None:
        return new_causal_lm(spec.preset, tok, ctx.recipe.seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec.base, dtype=TRAIN_DTYPE)
    model.resize_token_embeddings(len(tok))
    return model


def reference_pairs(ctx: Context) -> list[tuple[str, str]]:
    """(prompt, reference solution) of the first `student.problems` train problems: the
    supervised data of the student and of a verifier base."""
    pairs = []
    for p in ctx.train_problems(0, ctx.recipe.student.problems):
        assert p.solution is not None
        pairs.append((student_prompt(p.question).text, p.solution.text))
    return pairs


def train_once(
    ctx: Context, work: Path, model: Any, pairs: list[tuple[str, str]], spec: TrainSpec
) -> tuple[Any, dict[str, Any]]:
    """Train and save under `work/model`, or load what an earlier run saved there."""
    from transformers import AutoModelForCausalLM

    tok = ctx.tokenizer()
    if saved(work / "model"):
        return AutoModelForCausalLM.from_pretrained(work / "model", dtype=TRAIN_DTYPE), {
            "reused": True
        }
    examples, dropped = sft_examples(tok, pairs, ctx.recipe.model.max_len)
    model, summary = fit(
        model,
        examples,
        PadCollator(tok.pad_token_id),
        spec,
        work,
        seed=ctx.recipe.seed,
        bf16=ctx.recipe.model.bf16,
        lora=ctx.recipe.model.lora,
    )
    save_model(model, tok, work / "model")
    return model, {**summary, "dropped_too_long": dropped}


def _expert_round(ctx: Context, model: Any, tok: Any, r: int) -> tuple[Any, dict[str, Any]]:
    spec = ctx.recipe.student
    problems = ctx.train_problems(spec.problems + r * spec.ei_questions, spec.ei_questions)
    params = SamplingParams(
        n=spec.ei_samples,
        temperature=1.0,
        max_tokens=spec.max_tokens,
        seed=ctx.recipe.seed + 1000 * (r + 1),
    )
    work = ctx.run.stage(NAME) / f"ei-{r}"
    work.mkdir(parents=True, exist_ok=True)
    pairs_file = work / "pairs.json"
    if dist.is_main() and not pairs_file.exists():  # sampling runs once, on the main process
        gen = EmbeddedGenerator(model, tok, max_batch_size=ctx.recipe.gen_batch)
        per_call = questions_per_call(ctx.recipe.gen_batch, params.n)
        sols_all = solve_all(gen, problems, params, per_call=per_call, desc=f"ei round {r}")
        pairs = []
        for p, sols in zip(problems, sols_all, strict=True):
            kept = {s.text for s in sols if p.check(s)}
            pairs += [(student_prompt(p.question).text, text) for text in sorted(kept)]
        pairs_file.write_text(json.dumps(pairs))
    dist.barrier()
    pairs = [(a, b) for a, b in json.loads(pairs_file.read_text())]
    model, summary = train_once(ctx, work, model, pairs, ctx.recipe.student.ei_train)
    return model, {"round": r, "kept_pairs": len(pairs), **summary}


def _validation(ctx: Context, model: Any, tok: Any) -> float | None:
    """Greedy accuracy on the first `student.validation_questions` of the validation split
    (None when 0), in calls of about `gen_batch` solutions with a progress bar."""
    spec = ctx.recipe.student
    if not spec.validation_questions:
        return None
    problems = ctx.task.load("validation", spec.validation_questions)
    gen = EmbeddedGenerator(model, tok, max_batch_size=ctx.recipe.gen_batch)
    acc = greedy_accuracy(
        gen, problems, spec.max_tokens, per_call=ctx.recipe.gen_batch, desc="validation"
    )
    return round(acc, 4)


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    spec, tok = ctx.recipe.student, ctx.tokenizer()
    work = ctx.run.stage(NAME) / "sft"
    model, sft = train_once(ctx, work, _fresh(ctx, tok), reference_pairs(ctx), spec.train)
    rounds = []
    for r in range(spec.ei_rounds):
        model, summary = _expert_round(ctx, model, tok, r)
        rounds.append(summary)
    save_model(model, tok, ctx.student_dir)
    acc = _validation(ctx, model, tok) if dist.is_main() else None
    params = sum(p.numel() for p in model.parameters())
    summary = {
        "parameters": params,
        "sft": sft,
        "expert_iteration": rounds,
        "validation_questions": spec.validation_questions,
        "validation_greedy_accuracy": acc,
    }
    return ctx.run.finish(NAME, summary, started)
