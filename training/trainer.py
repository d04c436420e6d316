"""One wrapper over `transformers.Trainer` for every model GLoRe trains.

It gives each run a decaying schedule that ends at `steps`, checkpoints that let an
interrupted run resume, optional LoRA adapters (merged before saving), and the loss curve.
The same code runs under `accelerate launch` on several GPUs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from training import dist
from training.recipe import LoraSpec, TrainSpec


def _with_lora(model: Any, lora: LoraSpec | None, task_type: str) -> Any:
    if lora is None:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type=task_type,
    )
    if task_type == "TOKEN_CLS":
        config.modules_to_save = ["score"]
    return get_peft_model(model, config)


def fit(
    model: Any,
    examples: list[dict[str, Any]],
    collator: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    spec: TrainSpec,
    work_dir: Path,
    *,
    seed: int,
    bf16: bool = False,
    lora: LoraSpec | None = None,
    task_type: str = "CAUSAL_LM",
    compute_loss_func: Callable[..., torch.Tensor] | None = None,
    adapter_dir: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train `model` on `examples` for `spec.steps` steps; return it (adapters merged) and
    a summary with the loss curve. Resumes from the last checkpoint in `work_dir`. With no
    examples it trains nothing and says so in the summary. With LoRA and `adapter_dir`, the
    adapter is also saved there before merging (vLLM serves it on the unchanged base)."""
    from transformers import Trainer
    from transformers.trainer_utils import get_last_checkpoint

    if not examples:
        # A weak student can leave a stage with nothing to learn from (no correct sample to
        # pair with); the model stays as initialised and the summary says so.
        return model, {
            "steps": 0,
            "examples": 0,
            "losses": [],
            "final_loss": None,
            "skipped": "no training examples",
        }
    ckpt_dir = work_dir / "checkpoints"
    args = _arguments(spec, ckpt_dir, seed, bf16)
    trainer = Trainer(
        model=_with_lora(model, lora, task_type),
        args=args,
        train_dataset=examples,
        data_collator=collator,
        compute_loss_func=compute_loss_func,
    )
    last: Any = get_last_checkpoint
    resume = last(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=resume)
    trained = _finish(trainer, lora, adapter_dir, ckpt_dir)
    losses = [(h["step"], round(h["loss"], 4)) for h in trainer.state.log_history if "loss" in h]
    return trained, {
        "steps": spec.steps,
        "examples": len(examples),
        "losses": losses,
        "final_loss": losses[-1][1] if losses else None,
        "resumed": resume is not None,
    }


def _arguments(spec: TrainSpec, ckpt_dir: Path, seed: int, bf16: bool) -> Any:
    """The Trainer's arguments, every knob from the recipe's train section."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(ckpt_dir),
        max_steps=spec.steps,
        per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.lr,
        lr_scheduler_type=spec.schedule,
        warmup_steps=spec.warmup,
        weight_decay=spec.weight_decay,
        logging_steps=spec.logging_steps,
        save_strategy="steps",
        save_steps=spec.save_steps,
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )


def _finish(trainer: Any, lora: LoraSpec | None, adapter_dir: Path | None, ckpt_dir: Path) -> Any:
    """The trained model (LoRA adapters saved where asked, then merged); the checkpoints
    removed once every process is past the Trainer's own reading of them, and only once."""
    trained: Any = trainer.model
    if lora is not None:
        if adapter_dir is not None and dist.is_main():
            trained.save_pretrained(adapter_dir)
        trained = trained.merge_and_unload()
    dist.barrier()
    if dist.is_main():
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return trained


def save_model(model: Any, tokenizer: Any, path: Path) -> None:
    """Save on the main process only; the others wait until the files exist."""
    if dist.is_main():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    dist.barrier()
