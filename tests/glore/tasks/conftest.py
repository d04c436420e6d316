"""Fixtures of the task tests. `shared_data`: the folder of real dataset copies (GSM8K, SVAMP).

It lives here, not in tests/conftest.py: a conftest there puts tests/ on sys.path, where
tests/glore/ (a namespace package) then shadows the editable-installed `glore`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`$GLORE_DATA_DIR`, else `../shared/data` beside the repository; skips when absent."""
    env = os.environ.get("GLORE_DATA_DIR")
    path = Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()
    if not path.is_dir():
        pytest.skip(
            f"data folder {path} is missing: these tests need the MIT-licensed GSM8K/SVAMP "
            "copies in ../shared/data (as in CI) or GLORE_DATA_DIR"
        )
    return path
