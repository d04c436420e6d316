"""What every stage shares: the recipe, the run directory, the task and model loading."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from glore.backends.base import Generator
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.errors import ConfigError
from glore.formats import Problem
from glore.tasks.base import Task
from glore.tasks.splits import HeldOutSplits
from training.recipe import Recipe, TaskSpec
from training.rundir import RunDir

TRAIN_DTYPE = torch.float32
"""Every model is loaded for training in float32, whatever its files hold: transformers
loads a checkpoint in its stored dtype, and a float16 one (an exported store's) trains
about 30x slower on a CPU and loses precision in the optimizer (`model.bf16` autocasts)."""


def recipe_task(spec: TaskSpec) -> Task:
    """The recipe's task with splits train, validation and test (arith's own; GSM8K's and
    SVAMP's from `glore.tasks.splits`)."""
    if spec.name == "arith":
        from glore.tasks.arith import ArithConfig, ArithTask

        return ArithTask(seed=spec.seed, config=ArithConfig(**spec.arith))
    assert spec.path is not None  # TaskSpec.check
    return HeldOutSplits(spec.name, Path(spec.path))


def check_sizes(recipe: Recipe, task: Task) -> None:
    """The train questions the stages take must exist: a file dataset is finite (arith
    generates as many as asked). Raises ConfigError naming the key, before any work."""
    if not isinstance(task, HeldOutSplits):
        return
    train, where = task.size("train"), f"the train split of {task.name} at {task.path}"
    s = recipe.student
    taken = s.problems + s.ei_rounds * s.ei_questions
    if taken > train:
        raise ConfigError(
            f"recipe key 'student.problems': the student takes {taken} train questions "
            f"(problems {s.problems} + ei_rounds {s.ei_rounds} x ei_questions "
            f"{s.ei_questions}); {where} holds {train}"
        )
    end = recipe.sample_start + recipe.sample.questions
    if end > train:
        raise ConfigError(
            f"recipe key 'sample.questions': sampling takes train questions "
            f"{recipe.sample_start}..{end - 1}; {where} holds {train} (lower it, or set "
            "sample.start to sample the student's own questions)"
        )


@dataclass
class Context:
    recipe: Recipe
    run: RunDir

    def __post_init__(self) -> None:
        torch.set_num_threads(self.recipe.threads)

    @cached_property
    def task(self) -> Task:
        return recipe_task(self.recipe.task)

    def train_problems(self, start: int, count: int) -> list[Problem]:
        """Train-split problems [start, start + count): each stage takes its own slice."""
        return self.task.load("train", start + count)[start:]

    @property
    def student_dir(self) -> Path:
        return self.run.stage("student") / "model"

    @property
    def verifier_dir(self) -> Path:
        """What the ORM and the SORM start from: the `verifier` stage's model when the
        recipe has one, else the student."""
        if self.recipe.verifier is None:
            return self.student_dir
        return self.run.stage("verifier") / "model"

    def base_dir(self, role: str) -> Path:
        """What `role` ("orm" or "sorm") starts from: the verifier base, except for a SORM
        the recipe keeps on the student (`verifier.sorm: false`)."""
        spec = self.recipe.verifier
        if role == "sorm" and spec is not None and not spec.sorm:
            return self.student_dir
        return self.verifier_dir

    def base_label(self, role: str) -> str:
        """`base_dir(role)` as the manifest's `init` says it."""
        spec = self.recipe.verifier
        if spec is None or self.base_dir(role) == self.student_dir:
            return "student"
        return f"verifier ({spec.label})"

    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.run.stage("tokenizer"))

    def split(self) -> dict[str, int]:
        """How `sample` and `sorm-label` spread their chunks: `gen_processes` processes of
        an equal share of `threads` (`training.chunks.run_chunks_split`)."""
        processes = self.recipe.gen_processes
        return {"processes": processes, "threads": max(1, self.recipe.threads // processes)}

    def student_generator(self) -> Generator:
        """The student for `sample` and `sorm-label`: the recipe's `generation` server, else
        the run's student in this process."""
        if self.recipe.generation is not None:
            from training.recipe_sources import remote_student

            generator: Generator = remote_student(self.recipe.generation)
            return generator
        return EmbeddedGenerator.from_pretrained(
            self.student_dir, max_batch_size=self.recipe.gen_batch
        )
