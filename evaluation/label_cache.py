"""A file cache of the reward report's labelled samples (`glore eval --labels FILE`).

The samples and their rollout labels come from the student alone, and the rollouts are
nearly all of the report's cost; with the cache, judging another ORM or SORM (a variant's
model, named in a spec file) on the same held-out samples costs one scoring pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaluation.config import EvalConfig
from evaluation.step_labels import LabelledSample
from glore.engine.loading import read_spec
from glore.errors import InvalidInputError

WEIGHTS = "model.safetensors"


def student_fingerprint(store: Path) -> str:
    """sha256 of the student's weights file where it is a local folder, else of the
    student's entry in the spec (a remote endpoint is named, not hashed)."""
    entry = read_spec(store)["student"]
    weights = Path(str(entry.get("path", ""))) / WEIGHTS if isinstance(entry, dict) else None
    if weights is not None and weights.is_file():
        return hashlib.sha256(weights.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def cache_key(cfg: EvalConfig, store: Path) -> dict[str, Any]:
    """Everything the labelled samples depend on: the student and how they were drawn."""
    return {
        "task": cfg.task,
        "split": cfg.split_name,
        "data": cfg.data,
        "questions": cfg.reward_questions,
        "samples": cfg.reward_samples,
        "k_eval": cfg.k_eval,
        "max_tokens": cfg.max_tokens,
        "seed": cfg.seed,
        "student": student_fingerprint(store),
        # Only when set, so caches written before the generator seed was a knob still match.
        **({"task_seed": cfg.task_seed} if cfg.task_seed else {}),
    }


def cached_labels(
    path: Path | None, key: dict[str, Any], make: Callable[[], list[LabelledSample]]
) -> list[LabelledSample]:
    """The samples `key` names: read from `path` when it holds them (refused when it holds
    another key's), else made by `make` and written there (no path: made, not kept)."""
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") != key:
            raise InvalidInputError(
                f"{path} holds labelled samples of {saved.get('key')}, not {key}; "
                "use another --labels file"
            )
        return [LabelledSample(**row) for row in saved["samples"]]
    samples = make()
    if path is not None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({"key": key, "samples": [asdict(s) for s in samples]}))
        tmp.replace(path)
    return samples
