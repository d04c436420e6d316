"""Where the tests find the real dataset copies (GSM8K, SVAMP; MIT): `$GLORE_DATA_DIR`,
else `../shared/data` beside the repository, as in CI. They are never copied into the repo.

A test that needs a file calls `dataset(...)`, which skips it, naming the missing path,
when the copy is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    env = os.environ.get("GLORE_DATA_DIR")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()


def dataset(*parts: str) -> Path:
    """`data_root() / parts...`, after checking it (and for GSM8K's folder, both of its
    files) is there; else the calling test skips, saying what is missing."""
    path = data_root().joinpath(*parts)
    needed = [path / "train.jsonl", path / "test.jsonl"] if parts == ("gsm8k",) else [path]
    for item in needed:
        if not item.exists():
            pytest.skip(
                f"{item} is missing: this test needs the MIT-licensed GSM8K/SVAMP copies in "
                "../shared/data (as in CI) or GLORE_DATA_DIR"
            )
    return path
