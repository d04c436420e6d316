"""`glore bench`: speed measured side by side in one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks: ratios measured side by side in one run.")


@bench_app.command("engine")
def engine(
    store: Annotated[Path, typer.Option(help="Model store.")] = Path("model_store/default"),
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="Concurrent questions.")] = 64,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Micro-batching speed-up, cost of gated/always against the draft, scoring share, decode
    speed against this machine's matmul peak."""
    from glore.bench.engine import bench_engine

    report = bench_engine(str(store), n)
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if json_path is not None:
        json_path.write_text(text + "\n")
