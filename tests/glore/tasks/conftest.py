"""Fixtures of the task tests. `shared_data`: the folder of real dataset copies (GSM8K, SVAMP).

It lives here, not in tests/conftest.py: a conftest there puts tests/ on sys.path, where
tests/glore/ (a namespace package) then shadows the editable-installed `glore`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import dataset


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real dataset copies; skips when absent (`tests.shared_data`)."""
    return dataset()
