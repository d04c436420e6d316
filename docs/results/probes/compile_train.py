"""Does `torch.compile` speed up the ORM stage's training step? A research record (issue
12's training row), not part of the package:

    python docs/results/probes/compile_train.py eager|compile [STEPS] [PAD_TO]

The bench's training examples (`bench.train.orm_examples`: 1,600 arith train problems, a
right and a wrong solution each), the ORM's initialisation from the default student, its
length-grouped batches of 32 (`training.trainer.GroupedSampler`), optionally padded to a
multiple of PAD_TO positions so that fewer shapes reach the compiler; one step is forward,
the masked step loss, backward and AdamW, on the compute lane. The loss is the stage's
(`training.reward.step_bce_loss`) written as a masked mean, since boolean indexing gives the
compiler a shape it cannot know. It prints 10 warm-up steps' seconds (the compile, when
compiling), then tokens/s over STEPS (default 40) grouped batches in order, then ms a step
over 20 repeats of one batch (a steady state with no new shape).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as nnf
from transformers import AutoTokenizer

from bench.train import _classifier, orm_examples
from glore.backends.embedded.lane import LANE
from training.sft import PadCollator
from training.trainer import GroupedSampler

STUDENT = Path("model_store/default/student")
BATCH = 32


def _batches(pad_to: int) -> Iterator[dict[str, torch.Tensor]]:
    tok: Any = AutoTokenizer.from_pretrained(STUDENT)
    examples, pad = orm_examples(tok, 1600), int(tok.pad_token_id)
    order = list(GroupedSampler([len(e["input_ids"]) for e in examples], BATCH, 0))
    collate = PadCollator(pad, torch.float)
    for start in range(0, len(order), BATCH):
        b = collate([examples[j] for j in order[start : start + BATCH]])
        extra = -b["input_ids"].shape[1] % pad_to
        if extra:
            b["input_ids"] = nnf.pad(b["input_ids"], (0, extra), value=pad)
            b["attention_mask"] = nnf.pad(b["attention_mask"], (0, extra))
            b["labels"] = nnf.pad(b["labels"], (0, extra), value=-100.0)
        yield b


def main(mode: str, steps: int, pad_to: int) -> None:
    model = _classifier(STUDENT)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def loss_of(ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1).float()
        keep = (labels != -100).float()
        each = nnf.binary_cross_entropy_with_logits(logits, labels.clamp(min=0), reduction="none")
        loss = (each * keep).sum() / keep.sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    step = torch.compile(loss_of, dynamic=False) if mode == "compile" else loss_of
    batches = _batches(pad_to)

    def train(batch: dict[str, torch.Tensor]) -> None:
        step(batch["input_ids"], batch["attention_mask"], batch["labels"])
        opt.step()
        opt.zero_grad(set_to_none=True)

    def run() -> None:
        t0 = time.perf_counter()
        for _ in range(10):
            train(next(batches))
        print(f"{mode}: 10 warm-up steps {time.perf_counter() - t0:.1f} s")
        real, t0 = 0, time.perf_counter()
        for _ in range(steps):
            batch = next(batches)
            train(batch)
            real += int(batch["attention_mask"].sum())
        print(f"{mode}: {steps} grouped steps {real / (time.perf_counter() - t0):,.0f} tok/s")
        batch = next(batches)
        for _ in range(3):
            train(batch)
        t0 = time.perf_counter()
        for _ in range(20):
            train(batch)
        shape = tuple(batch["input_ids"].shape)
        print(f"{mode}: one batch {shape}, {(time.perf_counter() - t0) / 20 * 1000:.1f} ms a step")

    LANE.call(run)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], int(args[1]) if len(args) > 1 else 40, int(args[2]) if len(args) > 2 else 1)
