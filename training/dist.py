"""Several processes under `accelerate launch`: training stages run on every process
(the Trainer shards batches), everything else (sampling, rollouts, evaluation, writing
files) runs on the main process while the others wait at a barrier.

A single process (the usual CPU run) never initialises torch.distributed.

`GLORE_DIST_TIMEOUT_S` (default 21600, six hours; at least 1) bounds how long a process
waits at a collective. The others wait at a barrier while the main process samples or
evaluates alone, which on a real dataset can outlast torch's 30-minute default; a test sets
it short so that a hang fails with the collective's error instead of the test's timeout.
"""

from __future__ import annotations

import functools
import math
import os
from datetime import timedelta
from typing import Any

from glore.errors import ConfigError

TIMEOUT_ENV = "GLORE_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 21600


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def timeout() -> timedelta:
    """The collectives' timeout, from `GLORE_DIST_TIMEOUT_S`."""
    raw = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not (math.isfinite(seconds) and seconds >= 1):
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: give seconds, a number of at least 1")
    return timedelta(seconds=seconds)


@functools.cache
def _group() -> Any:
    """The pipeline's own process group: its barriers pair only with each other, whatever
    collectives the Trainer runs on the default group (which it does not run in the same
    number on every process, so barriers there drifted: a process read a file the main one
    had not yet written). Made at the first barrier, which every process reaches at the
    same point."""
    import torch.distributed as torch_dist

    return torch_dist.new_group(backend="gloo", timeout=timeout())


def barrier() -> None:
    """Wait for every process (a no-op in a single process). The process group is the one
    the launcher describes in the environment; the Trainer reuses its default group, and
    the pipeline's barriers run on a group of their own."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as torch_dist

    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend, timeout=timeout())
    torch_dist.barrier(group=_group())
