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
    """Wait for every process (a no-op in a single process). The process group is the one
    the launcher describes in the environment; the Trainer reuses it."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as torch_dist

    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    torch_dist.barrier()
