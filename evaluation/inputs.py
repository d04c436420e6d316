"""Everything a run needs, checked before any work starts: the models, the dataset, the split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from evaluation.config import EvalConfig
from glore.engine.loading import read_spec
from glore.errors import DatasetError, InvalidInputError
from glore.formats import Problem
from glore.tasks import get_task
from glore.tasks.splits import HeldOutSplits


@dataclass(frozen=True)
class Inputs:
    problems: list[Problem]
    """The refinement report's questions (the reward report takes the first of them)."""
    store: Path
    store_hash: str
    """sha256 of the store's manifest.json (or of the spec file naming remote endpoints)."""
    task_label: str


def store_hash(store: Path) -> str:
    source = store / "manifest.json" if store.is_dir() else store
    if not source.is_file():
        return "none"
    return hashlib.sha256(source.read_bytes()).hexdigest()


def dataset_path(task: str, data: str | None) -> Path:
    """The dataset a file task reads, or the error that says what is missing."""
    if data is None:
        raise InvalidInputError(f"task {task!r} reads a dataset: pass its path (--data)")
    if not Path(data).exists():
        raise DatasetError(data, None, "dataset path does not exist")
    return Path(data)


def load_problems(cfg: EvalConfig) -> list[Problem]:
    """The split's first `max(questions, reward_questions)` problems, or a clear error."""
    name = "arith" if cfg.task.startswith("arith") else cfg.task
    if cfg.task == "arith-hard" and cfg.split_name != "hard":
        raise InvalidInputError(f"arith-hard has one split, 'hard'; got {cfg.split_name!r}")
    if name in ("gsm8k", "svamp"):
        dataset_path(name, cfg.data)
    task = get_task(name, path=cfg.data, seed=cfg.task_seed)
    splits = task.splits
    if name in ("gsm8k", "svamp"):  # the splits a recipe trains on, so its test is held out
        held_out = HeldOutSplits(name, Path(str(cfg.data)))
        splits = tuple(dict.fromkeys((*held_out.splits, *task.splits)))
        if cfg.split_name in held_out.splits:
            task = held_out
    if cfg.split_name not in splits:
        raise InvalidInputError(
            f"{cfg.task} has no split {cfg.split_name!r}; splits: {', '.join(splits)}"
        )
    problems = task.load(cfg.split_name, max(cfg.questions, cfg.reward_questions))
    if not problems:
        raise DatasetError(
            str(cfg.data or cfg.task), None, f"split {cfg.split_name!r} holds no problems"
        )
    return problems


def check_inputs(cfg: EvalConfig, store: str | Path) -> Inputs:
    path = Path(store)
    read_spec(path)  # raises ModelNotFoundError / ConfigError naming the missing role
    problems = load_problems(cfg)
    label = f"{cfg.task}/{cfg.split_name}"
    if cfg.task_seed:
        label += f" (generator seed {cfg.task_seed})"
    return Inputs(problems, path, store_hash(path), label)


CALIBRATION_TASKS = ("arith", "gsm8k", "svamp")


def validation_problems(task: str, data: str | None, n: int) -> list[Problem]:
    """The first `n` validation problems of `task`: arith's generated split, or the
    question-hash validation split of a GSM8K or SVAMP copy at `data` (the one recipes
    hold out, `glore.tasks.splits`)."""
    if task not in CALIBRATION_TASKS:
        raise InvalidInputError(f"task must be one of {', '.join(CALIBRATION_TASKS)}; got {task!r}")
    if task == "arith":
        return get_task("arith").load("validation", n)
    return HeldOutSplits(task, dataset_path(task, data)).load("validation", n)
