"""Fixtures of the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import dataset


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real dataset copies; skips when absent (`tests.shared_data`)."""
    return dataset()
