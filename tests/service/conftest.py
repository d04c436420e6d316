"""Fixtures of the gateway tests: a live gateway over scripted backends (`serve`), and one
over a real model store (`real_server`): the served default when present, else one the
smoke recipe trains once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.engine.glore import GLoRe
from service.app import create_app
from tests.service.gateway_live import LiveServer, settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def serve() -> Iterator[Callable[..., LiveServer]]:
    """`serve(settings=..., engine=...)`: a live gateway, stopped after the test."""
    servers: list[LiveServer] = []

    def start(*, engine: GLoRe | None = None, **overrides: Any) -> LiveServer:
        server = LiveServer(create_app(settings(**overrides), engine))
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


DEFAULT_STORE = ROOT / "model_store" / "default"
ROLES = ("student", "orm", "sorm", "global", "local")


@pytest.fixture(scope="session")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served default store (`model_store/default`) when it is there; else a real store
    trained by `recipes/smoke.yaml` (about 30 s on a CPU)."""
    if all((DEFAULT_STORE / r / "config.json").is_file() for r in ROLES):
        return DEFAULT_STORE
    from training.pipeline import run_stages
    from training.recipe import load_recipe

    tmp = tmp_path_factory.mktemp("gateway-smoke")
    data = yaml.safe_load((ROOT / "recipes" / "smoke.yaml").read_text())
    data["export"]["store"] = str(tmp / "store")
    recipe = tmp / "smoke.yaml"
    recipe.write_text(yaml.safe_dump(data))
    run_stages(load_recipe(recipe), tmp / "run", log=lambda _: None)
    return tmp / "store" / data["export"]["name"]


@pytest.fixture(scope="session")
def real_server(real_store: Path) -> Iterator[LiveServer]:
    """The gateway as `glore serve` builds it (its lifespan loads the store), once per
    session: an embedded engine's batcher belongs to one event loop."""
    server = LiveServer(create_app(settings(models=str(real_store), redis_url=None)))
    yield server
    server.stop()
