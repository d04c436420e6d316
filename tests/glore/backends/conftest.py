"""The stand-in vLLM server the remote-backend tests share (one per module, reset per test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.glore.backends import vllm_standin as standin


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with standin.StandinServer() as srv:
        yield srv


@pytest.fixture
def srv(server: Any) -> Any:
    server.reset()
    return server
