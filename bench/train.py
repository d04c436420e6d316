"""`glore bench train`: the ORM stage's training throughput on a store's student, in three
settings side by side in one run, each a fresh classifier trained for the same steps:

- `random`: today's batches (a random order, padded to each batch's longest row), float32;
- `grouped`: length-grouped batches (`group_by_length`), float32;
- `grouped_bf16`: length-grouped with bf16 autocast (`model.bf16`), run only where this
  CPU's bf16 matmul measures faster than its float32 one (or when forced).

Examples are the ORM stage's (`orm_items`, `reward_examples`) made from arith train
problems' reference solutions, each once as written (every step labelled 1) and once with
a wrong final answer (labelled 0): a fresh checkout caches no student samples, and these
have the lengths of the student's. Tokens/s counts real tokens only; the share of the
matmul peak takes training as 6 x parameters (the embedding, a lookup, left out) x tokens.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.engine import matmul_flops
from glore.formats import format_answer
from glore.labels.records import SampleRecord
from glore.tasks.arith import ArithTask

SETTINGS = (("random", False, False), ("grouped", True, False), ("grouped_bf16", True, True))
"""(name, length-grouped, bf16 autocast), in the order they run."""


def orm_examples(tok: Any, problems: int, max_len: int = 512) -> list[dict[str, Any]]:
    """The ORM stage's examples of `problems` arith train problems, a right and a wrong
    sample of each."""
    from training.recipe import OrmSpec
    from training.reward import reward_examples
    from training.stages.reward_models import orm_items

    samples = []
    for p in ArithTask().load("train", problems):
        assert p.solution is not None  # arith writes every reference solution
        steps = list(p.solution.steps)
        wrong = [*steps[:-1], f"#### {format_answer(p.answer + 1)}"]
        answer = format_answer(p.answer)
        samples.append(SampleRecord(p.id, p.question, answer, 0, steps, True))
        samples.append(SampleRecord(p.id, p.question, answer, 1, wrong, False))
    return reward_examples(tok, orm_items(samples, OrmSpec()), max_len)


def _classifier(student: Path) -> Any:
    """The ORM's initialisation, as the stage makes it: the student with one logit, float32."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(student, num_labels=1)
    config.classifier_dropout = 0.0
    auto: Any = AutoModelForTokenClassification
    return auto.from_pretrained(student, config=config, dtype=torch.float32)


def _weights(model: Any) -> int:
    return sum(int(p.numel()) for n, p in model.named_parameters() if "embed" not in n)


def _run(
    student: Path, examples: list[dict[str, Any]], spec: Any, work: Path, *, bf16: bool, pad: int
) -> tuple[dict[str, Any], int]:
    from training.reward import step_bce_loss
    from training.sft import PadCollator
    from training.trainer import fit

    model = _classifier(student)
    collator = PadCollator(pad, torch.float)
    _, summary = fit(
        model,
        examples,
        collator,
        spec,
        work,
        seed=0,
        bf16=bf16,
        task_type="TOKEN_CLS",
        compute_loss_func=step_bce_loss,
    )
    return summary, _weights(model)


def _row(summary: dict[str, Any], weights: int, peak: float, peak_bf16: float) -> dict[str, Any]:
    flops = 6.0 * weights * summary["tokens_per_s"]
    return {
        "tokens": summary["tokens"],
        "padded_tokens": summary["padded_tokens"],
        "pad_share": summary["pad_share"],
        "seconds": summary["train_seconds"],
        "tokens_per_s": summary["tokens_per_s"],
        "peak_share": round(flops / peak, 4),
        "bf16_peak_share": round(flops / peak_bf16, 4),
        "final_loss": summary["final_loss"],
    }


def bench_train(
    store: str,
    *,
    steps: int = 40,
    batch_size: int = 32,
    problems: int = 1600,
    warmup_steps: int = 3,
    force_bf16: bool = False,
) -> dict[str, Any]:
    """Tokens/s, pad share and the share of the float32 matmul peak of each setting, and
    its ratios against `random`. The ORM recipe's batch and learning rate (tiny.yaml)."""
    from transformers import AutoTokenizer

    from training.recipe import TrainSpec

    student = Path(store) / "student"
    tok: Any = AutoTokenizer.from_pretrained(student)
    examples, pad = orm_examples(tok, problems), int(tok.pad_token_id)
    peak, peak_bf16 = matmul_flops(), matmul_flops(dtype=torch.bfloat16)
    bf16_fast = peak_bf16 > peak
    spec = TrainSpec(steps=steps, batch_size=batch_size, lr=1e-3, save_every=steps + 1)
    rows: dict[str, Any] = {}
    weights = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, grouped, bf16 in SETTINGS:
            if bf16 and not (bf16_fast or force_bf16):
                rows[name] = {"skipped": "bf16 matmul is not faster than float32 on this CPU"}
                continue
            # One-off costs (kernel choice, first allocations) fall on a short run first.
            warm = dataclasses.replace(spec, steps=warmup_steps, group_by_length=grouped)
            _run(student, examples, warm, Path(tmp) / f"warm-{name}", bf16=bf16, pad=pad)
            timed = dataclasses.replace(spec, group_by_length=grouped)
            work = Path(tmp) / name
            summary, weights = _run(student, examples, timed, work, bf16=bf16, pad=pad)
            rows[name] = _row(summary, weights, peak, peak_bf16)
    base = rows["random"]["tokens_per_s"]
    for row in rows.values():
        if "tokens_per_s" in row:
            row["speedup"] = round(row["tokens_per_s"] / base, 2)
    return {
        "machine": {
            "threads": torch.get_num_threads(),
            "matmul_gflops": round(peak / 1e9, 1),
            "matmul_gflops_bf16": round(peak_bf16 / 1e9, 1),
            "bf16_matmul_faster": bf16_fast,
        },
        "setup": {
            "store": store,
            "examples": len(examples),
            "steps": steps,
            "batch_size": batch_size,
            "weights": weights,
        },
        "settings": rows,
    }
