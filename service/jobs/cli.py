"""`glore worker`: the job worker process (`python -m service.jobs.cli` runs it too)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import ModelsOption


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Jobs run at once; they share one engine.")
    ] = 1,
    models: ModelsOption = None,
    engine_factory: Annotated[
        str | None,
        typer.Option(
            help="'module:function' building the engine from the settings, instead of "
            "loading --models (default: GLORE_ENGINE_FACTORY)."
        ),
    ] = None,
) -> None:
    """Run queued jobs from Redis (GLORE_REDIS_URL) until SIGTERM or SIGINT.

    The engine is loaded once. A job whose worker dies is resumed by another worker after
    GLORE_JOB_HEARTBEAT_S, from the items that have no result yet."""
    from service.jobs.worker import run_worker
    from service.settings import Settings

    overrides = {k: v for k, v in {"models": models, "engine_factory": engine_factory}.items() if v}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    run_worker(settings, concurrency=concurrency)


def main() -> None:
    """The entry point of `python -m service.jobs.cli`: a `GloreError` is one line, exit 2."""
    import sys

    from glore.errors import GloreError

    try:
        typer.run(worker)
    except GloreError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
