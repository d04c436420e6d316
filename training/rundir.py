"""A run directory: one folder per stage, complete once its `summary.json` exists.

A stage writes its artifacts first and its summary last, so an interrupted stage has no
summary and runs again (resuming what it can); a complete one is skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from glore.errors import ConfigError, GloreError
from training import dist

SUMMARY = "summary.json"


RECIPE = "recipe.json"


class RunDir:
    variant: str | None = None
    """The variant name of a `training.variants.VariantRun`; None for a run itself."""

    def __init__(
        self, root: str | Path, recipe_digest: str, recipe: dict[str, Any] | None = None
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = self.root / "recipe.digest"
        if stamp.exists() and stamp.read_text().strip() != recipe_digest:
            raise ConfigError(
                f"{self.root} was made by another recipe; use a new --out or delete it"
            )
        if dist.is_main():  # renamed into place: another process may be reading the stamp
            write_atomic(stamp, recipe_digest + "\n")
            if recipe is not None:  # what a variant is compared against
                write_atomic(self.root / RECIPE, json.dumps(recipe, indent=2, sort_keys=True))

    @classmethod
    def existing(cls, root: Path) -> RunDir:
        """An existing run directory, opened to read its stages (no recipe stamp checked)."""
        run = cls.__new__(cls)
        run.root = root
        return run

    def stage(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    def done(self, name: str) -> bool:
        return (self.root / name / SUMMARY).is_file()

    def summary(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / name / SUMMARY).read_text())
        return data

    def wait_summary(self, name: str, timeout_s: float = 600.0) -> dict[str, Any]:
        """`summary(name)` once the main process has written it. The pipeline's barrier
        after a stage should mean it is there already; but a CI run once had a process
        read it before the main one had written it (cause not found: the barriers run on
        their own group), so the file itself is the hand-off, awaited for `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not self.done(name):
            if time.monotonic() > deadline:
                raise GloreError(
                    f"stage {name!r}: the main process wrote no {SUMMARY} within "
                    f"{timeout_s:.0f} s; see its log for why"
                )
            time.sleep(0.1)
        return self.summary(name)

    def finish(self, name: str, summary: dict[str, Any], started: float) -> dict[str, Any]:
        summary = {"stage": name, "seconds": round(time.time() - started, 1), **summary}
        if not dist.is_main():  # one process writes; the others' summaries are the same
            return summary
        write_atomic(
            self.stage(name) / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n"
        )
        return summary


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file renamed over `path`: a reader sees the old or the new."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (a temp file renamed), so a crash leaves no half file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
    tmp.replace(path)
    return count


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (from a kill mid-write) is ignored."""
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            if line.endswith("\n"):
                yield json.loads(line)
