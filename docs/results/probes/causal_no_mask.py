"""Does a right-padded training batch run faster without its attention mask? A research
record (issue 12's training row), not part of the package:

    python docs/results/probes/causal_no_mask.py [STEPS]

With right padding no real position attends to a later one, so a causal model's outputs
at real positions are the same with or without the mask, and the loss ignores the pads;
without it, SDPA runs its causal kernel instead of a masked one. The bench's ORM examples
(`bench.train.orm_examples`), length-grouped batches of 32, forward + the step loss +
backward + AdamW on the compute lane; the two settings interleaved step by step on the
same batches (each its own model, the same initialisation), then the largest difference
of the loss between them on the first batch.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from bench.train import _classifier, orm_examples
from glore.backends.embedded.lane import LANE
from training.reward import step_bce_loss
from training.sft import PadCollator
from training.trainer import GroupedSampler

STUDENT = Path("model_store/default/student")
BATCH = 32


def main(steps: int) -> None:
    tok: Any = AutoTokenizer.from_pretrained(STUDENT)
    examples = orm_examples(tok, 1600)
    order = list(GroupedSampler([len(e["input_ids"]) for e in examples], BATCH, 0))
    collate = PadCollator(int(tok.pad_token_id), torch.float)
    batches = [
        collate([examples[j] for j in order[s : s + BATCH]]) for s in range(0, len(order), BATCH)
    ]
    first = _classifier(STUDENT)  # the score head is drawn at random: one draw for both
    models = {"mask": first, "no_mask": copy.deepcopy(first)}
    opts = {name: torch.optim.AdamW(m.parameters(), lr=1e-3) for name, m in models.items()}

    def step(name: str, b: dict[str, torch.Tensor]) -> float:
        mask = b["attention_mask"] if name == "mask" else None
        out = models[name](input_ids=b["input_ids"], attention_mask=mask)
        loss = step_bce_loss(out, b["labels"])
        loss.backward()  # type: ignore[no-untyped-call]
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)
        return float(loss.detach())

    def run() -> None:
        first = {name: step(name, batches[0]) for name in models}
        print(f"first-batch loss: mask {first['mask']:.7f}, no mask {first['no_mask']:.7f}")
        seconds = {name: 0.0 for name in models}
        real = 0
        for i in range(1, steps + 1):
            b = batches[i % len(batches)]
            real += int(b["attention_mask"].sum())
            for name in ("mask", "no_mask") if i % 2 else ("no_mask", "mask"):
                t0 = time.perf_counter()
                step(name, b)
                seconds[name] += time.perf_counter() - t0
        for name, s in seconds.items():
            print(f"{name}: {real / s:,.0f} real tokens/s over {steps} grouped steps")
        print(f"no mask / mask: {seconds['mask'] / seconds['no_mask']:.2f}x")

    LANE.call(run)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
