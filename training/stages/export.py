"""Stage `export`: the five models into `model_store/NAME/` (fp16 safetensors, config,
tokenizer) with `manifest.json`: how they were made and how they scored on held-out data."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import glore
from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.likelihood import HEAD_FILE, LikelihoodScorer
from glore.backends.embedded.scorers import open_scorer, scorer_class
from glore.formats import FORMAT_VERSION
from glore.labels.metrics import auroc
from training.context import Context
from training.evaluate import greedy_accuracy, questions_per_call, solve_all
from training.rundir import RunDir
from training.stage_names import STAGES

NAME = "export"
ROLES = {"student": "student", "orm": "orm", "sorm": "sorm", "global": "global", "local": "local"}


def _source_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    # The store being written is not part of the source: leave it out of "dirty".
    status = git("status", "--porcelain", "--", ".", ":(exclude)model_store")
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(status)}


def copy_model(
    src: Path, dst: Path, scorer: bool, dtype: torch.dtype = torch.float16, head: bool = True
) -> int:
    """A model folder (weights in `dtype`, tokenizer) copied from `src` to `dst`; -> its
    parameter count. A scorer is a token classifier, or a causal LM with its likelihood head
    (copied beside it unless `head` is false: the bare base)."""
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

    likelihood = scorer_class(src) is LikelihoodScorer
    classifier = scorer and not likelihood
    cls = AutoModelForTokenClassification if classifier else AutoModelForCausalLM
    model = cls.from_pretrained(src, dtype=dtype)
    shutil.rmtree(dst, ignore_errors=True)
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    if likelihood and head:
        shutil.copy2(src / HEAD_FILE, dst / HEAD_FILE)
    return sum(p.numel() for p in model.parameters())


def _heldout(ctx: Context, store: Path) -> dict[str, Any]:
    spec, gen_batch = ctx.recipe.export, ctx.recipe.gen_batch
    test = ctx.task.load("test", spec.eval_questions)
    gen = EmbeddedGenerator.from_pretrained(store / "student", max_batch_size=gen_batch)
    greedy = greedy_accuracy(gen, test, spec.max_tokens, per_call=gen_batch, desc="test greedy")
    out: dict[str, Any] = {"test_questions": len(test), "student_greedy_accuracy": round(greedy, 4)}
    params = SamplingParams(
        n=spec.eval_samples, temperature=1.0, max_tokens=spec.max_tokens, seed=ctx.recipe.seed
    )
    per_call = questions_per_call(gen_batch, spec.eval_samples)
    items, labels = [], []
    solved = solve_all(gen, test, params, per_call=per_call, desc="test samples")
    for p, sols in zip(test, solved, strict=True):
        for s in sols:
            if s.steps:
                items.append((p.question, list(s.steps)))
                labels.append(p.check(s))
    out["eval_samples"] = len(items)
    out["sample_accuracy"] = round(sum(labels) / max(1, len(labels)), 4)
    for role in ("orm", "sorm"):
        final = _final_scores(store / role, items, gen_batch, role)
        acc = sum((f >= 0.5) == y for f, y in zip(final, labels, strict=True)) / max(1, len(labels))
        area = auroc(final, labels)
        out[role] = {
            "final_answer_accuracy": round(acc, 4),
            "auroc": None if area is None else round(area, 4),
        }
    return out


def _final_scores(
    folder: Path, items: list[tuple[str, list[str]]], batch: int, role: str
) -> list[float]:
    """The reward model's score at each item's last step, `batch` items per progress tick."""
    scorer = open_scorer(folder, max_batch_size=batch)
    final: list[float] = []
    for start in tqdm(range(0, len(items), batch), desc=f"test {role}", unit="call"):
        final += [probs[-1] for probs in scorer.score_sync(items[start : start + batch])]
    return final


def export_adapters(run: RunDir, store: Path) -> dict[str, str]:
    """The refiners' LoRA adapters (recipes with `model.lora`) into `store/adapters/ROLE`,
    for vLLM serving the student with `--enable-lora --lora-modules global=... local=...`.
    -> role: path inside the store; empty when the refiners were fully fine-tuned."""
    out: dict[str, str] = {}
    shutil.rmtree(store / "adapters", ignore_errors=True)
    for role in ("global", "local"):
        src = run.stage(role) / "adapter"  # a variant's own refiner, else the run's
        if (src / "adapter_config.json").is_file():
            shutil.copytree(src, store / "adapters" / role)
            out[role] = f"adapters/{role}"
    return out


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    store = Path(ctx.recipe.export.store) / ctx.recipe.export.name
    store.mkdir(parents=True, exist_ok=True)
    sizes = {
        role: copy_model(ctx.run.stage(stage) / "model", store / role, role in ("orm", "sorm"))
        for role, stage in ROLES.items()
    }
    adapters = export_adapters(ctx.run, store)
    summaries = {s: ctx.run.summary(s) for s in STAGES if s != NAME and ctx.run.done(s)}
    manifest = {
        "name": ctx.recipe.export.name,
        "glore_version": glore.__version__,
        "format_version": FORMAT_VERSION,
        "source": _source_commit(),
        "recipe": ctx.recipe.to_dict(),
        "variant": ctx.run.variant,
        "seed": ctx.recipe.seed,
        "parameters": sizes,
        "init": {
            "student": ctx.recipe.model.base or f"scratch ({ctx.recipe.model.preset})",
            "orm": ctx.run.summary("orm").get("init", "student"),
            "sorm": ctx.run.summary("sorm").get("init", "student"),
            "global": ctx.run.summary("global").get("init", "student"),
            "local": ctx.run.summary("local").get("init", "student"),
        },
        "adapters": adapters,
        "stage_seconds": {s: v.get("seconds") for s, v in summaries.items()},
        "stages": summaries,
        "heldout": _heldout(ctx, store),
    }
    (store / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ctx.run.finish(NAME, {"store": str(store), "heldout": manifest["heldout"]}, started)
