"""One wrapper over `transformers.Trainer` for every model GLoRe trains.

It gives each run a decaying schedule that ends at `steps`, checkpoints that let an
interrupted run resume, optional LoRA adapters (merged before saving), optional
length-grouped batches, and a summary with the loss curve and the throughput: tokens
trained (real and padded) and tokens/s. The same code runs under `accelerate launch` on
several GPUs.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from glore.backends.embedded.lane import on_lane
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


@on_lane
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
    a summary with the loss curve and the throughput (`_throughput`). It runs on the
    process's compute lane, where the models generate and score (one thread holds an
    OpenMP team: `glore.backends.embedded.lane`). Resumes from the
    last checkpoint in `work_dir`. With no examples it trains nothing and says so in the
    summary. With LoRA and `adapter_dir`, the adapter is also saved there before merging
    (vLLM serves it on the unchanged base)."""
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
    trainer = _trainer_class()(
        model=_with_lora(model, lora, task_type),
        args=args,
        train_dataset=examples,
        data_collator=collator,
        compute_loss_func=compute_loss_func,
    )
    if spec.group_by_length:
        length = getattr(collator, "length", _ids_length)
        trainer.grouped = GroupedSampler([length(e) for e in examples], spec.batch_size, seed)
    last: Any = get_last_checkpoint
    resume = last(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    throughput = _throughput(trainer, seconds)
    trained = _finish(trainer, lora, adapter_dir, ckpt_dir)
    losses = [(h["step"], round(h["loss"], 4)) for h in trainer.state.log_history if "loss" in h]
    return trained, {
        "steps": spec.steps,
        "examples": len(examples),
        "losses": losses,
        "final_loss": losses[-1][1] if losses else None,
        "resumed": resume is not None,
        "group_by_length": spec.group_by_length,
        **throughput,
    }


def _ids_length(example: dict[str, Any]) -> int:
    return len(example["input_ids"])


class GroupedSampler(torch.utils.data.Sampler[int]):
    """Indices whose runs of `batch_size` have similar lengths: transformers' grouping
    (shuffled mega-batches, each sorted by length). Its permutation is drawn from
    (`seed`, epoch) alone, so every process draws the same one and a resumed run skips
    exactly the batches it trained on."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch  # the Trainer calls this before each epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Any:
        from transformers.trainer_pt_utils import get_length_grouped_indices

        order: Any = get_length_grouped_indices  # untyped upstream

        # One stream per (seed, epoch): seed + epoch alone would give seed 1's first epoch
        # seed 0's second order.
        draw = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(order(self.lengths, self.batch_size, generator=draw))


@functools.cache
def _trainer_class() -> Any:
    """The Trainer, counting the tokens of every batch it trains on and drawing batches
    from `grouped` when set. Made at the first call: transformers loads only to train."""
    from transformers import Trainer

    class MeteredTrainer(Trainer):
        grouped: GroupedSampler | None = None
        real_tokens: Any = 0
        padded_tokens = 0

        def training_step(
            self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
        ) -> Any:
            # Counted here, not in the collator: the data loader collates one batch ahead
            # of the step, and a resumed run skips batches without training on them. The
            # sum stays a tensor so a GPU is not made to wait at every step.
            ids, mask = inputs["input_ids"], inputs.get("attention_mask")
            self.real_tokens = self.real_tokens + (ids.numel() if mask is None else mask.sum())
            self.padded_tokens += ids.numel()
            return super().training_step(model, inputs, num_items_in_batch)

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if self.grouped is not None:
                return self.grouped
            return super()._get_train_sampler(train_dataset)

    return MeteredTrainer


def _throughput(trainer: Any, seconds: float) -> dict[str, Any]:
    """Tokens this call trained on, over every process: real ones (the attention mask),
    padded (every position computed), the pad share, and real tokens/s over the call's
    wall time (checkpoints included; a resumed run counts only the steps after its
    checkpoint)."""
    acc = trainer.accelerator
    counts = torch.tensor([int(trainer.real_tokens), trainer.padded_tokens], device=acc.device)
    real, padded = (int(x) for x in acc.reduce(counts, reduction="sum").tolist())
    return {
        "tokens": real,
        "padded_tokens": padded,
        "pad_share": round(1 - real / padded, 4) if padded else 0.0,
        "train_seconds": round(seconds, 3),
        "tokens_per_s": round(real / seconds, 1) if seconds > 0 else 0.0,
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


def saved(path: Path) -> bool:
    """Whether `save_model` finished writing a model at `path`: a stage that finds one
    reuses it rather than training again."""
    return (path / "config.json").is_file()


def save_model(model: Any, tokenizer: Any, path: Path) -> None:
    """Save on the main process only; the others wait until the files exist."""
    if dist.is_main():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    dist.barrier()
