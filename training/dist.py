"""Several processes under `accelerate launch`: training stages run on every process
(the Trainer shards batches), everything else (sampling, rollouts, evaluation, writing
files) runs on the main process while the others wait at a barrier.

A single process (the usual CPU run) never initialises torch.distributed.
"""

from __future__ import annotations

import functools
import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@functools.cache
def _group() -> Any:
    """The pipeline's own process group: its barriers pair only with each other, whatever
    collectives the Trainer runs on the default group (which it does not run in the same
    number on every process, so barriers there drifted: a process read a file the main one
    had not yet written). Made at the first barrier, which every process reaches at the
    same point."""
    import torch.distributed as torch_dist

    return torch_dist.new_group(backend="gloo")


def barrier() -> None:
    """Wait for every process (a no-op in a single process). The process group is the one
    the launcher describes in the environment; the Trainer reuses its default group, and
    the pipeline's barriers run on a group of their own."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as torch_dist

    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    torch_dist.barrier(group=_group())
