"""`glore serve`: the HTTP gateway under uvicorn (added to the `glore` command when the
service's dependencies are installed)."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

import typer
import uvicorn

ModelsOption = Annotated[
    str | None,
    typer.Option(
        "--models",
        "--store",
        help="Model store folder or spec file (default: GLORE_MODELS, else "
        "model_store/default); --store is an alias, the name `glore solve` used.",
    ),
]
"""`--models` (alias `--store`), shared by `glore serve`, `glore worker` and `glore solve`."""


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes; each loads its own models.")
    ] = 1,
    models: ModelsOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (/v1/solve, /v1/critique, /healthz, /readyz, /metrics, /docs).

    Settings come from GLORE_* variables (see service/settings.py). Redis is optional: without
    it the pipeline routes still serve and /readyz reports the failing check."""
    if models is not None:
        os.environ["GLORE_MODELS"] = models  # the workers read it too
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here and /metrics merges them; a fresh folder per
        # run, so counts start at zero as they do with one process.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="glore-metrics-")
    from service.connections import uvicorn_options
    from service.settings import get_settings

    get_settings.cache_clear()  # --models may have just set GLORE_MODELS
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        **uvicorn_options(get_settings()),
    )


def register(app: typer.Typer) -> None:
    """`glore serve` and `glore worker` (entry point `glore.commands`)."""
    from service.jobs.cli import worker

    app.command("serve")(serve)
    app.command("worker")(worker)
