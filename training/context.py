"""What every stage shares: the recipe, the run directory, the task and model loading."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from glore.backends.embedded.generator import EmbeddedGenerator
from glore.formats import Problem
from glore.tasks.arith import ArithConfig, ArithTask
from training.recipe import Recipe
from training.rundir import RunDir

MAX_LEN = 512
"""Longest training sequence in tokens; longer examples are dropped and counted."""
TRAIN_DTYPE = torch.float32
"""Every model is loaded for training in float32, whatever its files hold: transformers
loads a checkpoint in its stored dtype, and a float16 one (an exported store's) trains
about 30x slower on a CPU and loses precision in the optimizer (`model.bf16` autocasts)."""


@dataclass
class Context:
    recipe: Recipe
    run: RunDir

    def __post_init__(self) -> None:
        torch.set_num_threads(self.recipe.threads)

    @cached_property
    def task(self) -> ArithTask:
        return ArithTask(seed=self.recipe.task.seed, config=ArithConfig(**self.recipe.task.arith))

    def train_problems(self, start: int, count: int) -> list[Problem]:
        """Train-split problems [start, start + count): each stage takes its own slice."""
        return self.task.load("train", start + count)[start:]

    @property
    def student_dir(self) -> Path:
        return self.run.stage("student") / "model"

    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.run.stage("tokenizer"))

    def generator(self, model_dir: Path) -> EmbeddedGenerator:
        return EmbeddedGenerator.from_pretrained(model_dir, max_batch_size=self.recipe.gen_batch)
