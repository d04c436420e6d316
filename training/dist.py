"""Several processes under `accelerate launch`: training stages run on every process
(the Trainer shards batches), everything else (sampling, rollouts, evaluation, writing
files) runs on the main process while the others wait at a barrier.

A single process (the usual CPU run) never initialises torch.distributed.
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
