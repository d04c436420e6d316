"""`glore bench`: speed measured side by side in one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks: ratios measured side by side in one run.")


@bench_app.command("engine")
def engine(
    *,
    store: Annotated[Path, typer.Option(help="Model store.")] = Path("model_store/default"),
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="Concurrent questions.")] = 64,
    prefixes: Annotated[
        int, typer.Option(min=1, max=4096, help="Step prefixes rolled out (rollouts part).")
    ] = 64,
    k: Annotated[int, typer.Option("--k", min=1, max=64, help="Rollouts per prefix.")] = 8,
    train_steps: Annotated[
        int,
        typer.Option(min=0, max=10_000, help="Timed ORM training steps per setting (0 skips)."),
    ] = 40,
    greedy_engine: Annotated[
        str, typer.Option(help="Greedy engine of the solve parts: torch (reference), ct2, auto.")
    ] = "torch",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Concurrent-solve speed-up, cost of gated/always against the draft, scoring share,
    decode speed against this machine's matmul peak, rollouts/s of continuous against fixed
    batches, ORM training tokens/s; the JSON report, then the fast-generation goal table."""
    from bench.engine import bench_engine
    from bench.goals import format_goals

    report = bench_engine(
        str(store),
        n,
        prefixes=prefixes,
        k=k,
        train_steps=train_steps,
        greedy_engine=greedy_engine,  # type: ignore[arg-type]  # the loader checks it
    )
    text = json.dumps(report, indent=2)
    typer.echo(text)
    typer.echo("\n" + format_goals(report))
    if json_path is not None:
        json_path.write_text(text + "\n")


@bench_app.command("rollouts")
def rollouts(
    store: Annotated[Path, typer.Option(help="Model store.")] = Path("model_store/default"),
    prefixes: Annotated[int, typer.Option(min=1, max=4096, help="Step prefixes.")] = 64,
    k: Annotated[int, typer.Option("--k", min=1, max=64, help="Rollouts per prefix.")] = 8,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """The rollouts part of `glore bench engine` alone: the sorm-label stage's chunked path
    four ways (fixed batches, continuous, chunks in flight, two processes)."""
    from bench.rollouts import bench_rollouts
    from glore import GLoRe

    gen = GLoRe.from_pretrained(store, greedy_engine="torch").models.student
    report = bench_rollouts(gen, prefixes, k, student=str(store / "student"))
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if json_path is not None:
        json_path.write_text(text + "\n")


@bench_app.command("service")
def service(
    *,
    store: Annotated[Path, typer.Option(help="Model store.")] = Path("model_store/default"),
    clients: Annotated[
        int, typer.Option("--clients", "-n", min=1, max=256, help="Concurrent HTTP clients.")
    ] = 8,
    seconds: Annotated[
        float, typer.Option("--seconds", "-t", min=0.1, max=600, help="How long they post.")
    ] = 20.0,
    job_items: Annotated[
        int,
        typer.Option(
            "--job-items",
            min=0,
            max=100_000,
            help=(
                "Items in the benchmark job (0 skips the job part). 200 by default: on a "
                "2-core CPU the glore strategy solves about 5 items/s, so 1000 items (worker "
                "and engine-direct) would take about 7 minutes; pass 1000 where that is fine."
            ),
        ),
    ] = 200,
    job_batch_size: Annotated[
        int, typer.Option(min=1, max=1024, help="The worker's GLORE_JOB_BATCH_SIZE.")
    ] = 32,
    redis_url: Annotated[
        str, typer.Option(help="Redis for the job part; skipped when it does not answer.")
    ] = "redis://127.0.0.1:6379/0",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
    overload: Annotated[
        bool,
        typer.Option(
            "--overload",
            help="Instead: offer --factor times the measured capacity for --seconds, with "
            "the wait-bounded admission and with the count alone (offered, accepted, shed, "
            "p50/p99 of the accepted).",
        ),
    ] = False,
    factor: Annotated[
        float, typer.Option(min=1.0, max=100.0, help="--overload: offered load / capacity.")
    ] = 4.0,
) -> None:
    """The gateway on loopback under concurrent /v1/solve clients (requests/s, p50/p99
    latency, errors); then, when Redis answers, one job through one worker against the
    engine called directly on the same questions (items/s, ratio)."""
    from bench.service import bench_service, format_report

    if overload:
        from bench.overload import bench_overload, format_overload

        result = bench_overload(str(store), factor=factor, seconds=seconds, clients=clients)
        typer.echo(format_overload(result))
        if json_path is not None:
            json_path.write_text(json.dumps(result, indent=2) + "\n")
        return
    report = bench_service(
        str(store),
        clients=clients,
        seconds=seconds,
        job_items=job_items,
        redis_url=redis_url,
        job_batch_size=job_batch_size,
    )
    typer.echo(format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


@bench_app.command("ct2")
def ct2(
    store: Annotated[Path, typer.Option(help="Model store.")] = Path("model_store/default"),
    n: Annotated[
        int, typer.Option("--n", min=1, max=4096, help="Prompts (larger batches left out).")
    ] = 256,
    sizes: Annotated[str, typer.Option(help="Comma list of prompts per call.")] = "1,8,64,256",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """CTranslate2 (float32, int8) against the embedded generator on the student, greedy
    and sampled, at each batch size (needs the `ct2` extra)."""
    from bench.ctranslate2 import bench_ct2, format_ct2

    try:
        batch_sizes = [int(x) for x in sizes.split(",") if x.strip()]
    except ValueError:
        batch_sizes = []
    if not batch_sizes or min(batch_sizes) < 1:
        raise typer.BadParameter(f"--sizes takes positive integers, as 1,8,64; got {sizes!r}")
    report = bench_ct2(str(store), n=n, sizes=batch_sizes)
    typer.echo(format_ct2(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


@bench_app.command("train")
def train(
    *,
    store: Annotated[Path, typer.Option(help="Model store (its student is the init).")] = Path(
        "model_store/default"
    ),
    steps: Annotated[int, typer.Option(min=1, max=10_000, help="Timed steps per setting.")] = 40,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Sequences per step.")] = 32,
    problems: Annotated[
        int, typer.Option(min=1, max=100_000, help="Arith train problems (2 examples each).")
    ] = 1600,
    warmup_steps: Annotated[
        int, typer.Option(min=1, max=100, help="Untimed steps before each setting.")
    ] = 3,
    force_bf16: Annotated[
        bool, typer.Option("--force-bf16", help="Run bf16 even where its matmul is slower.")
    ] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """ORM training tokens/s, pad share and share of the matmul peak: random float32
    batches against length-grouped ones, float32 and (where bf16 matmul is faster) bf16."""
    from bench.train import bench_train

    report = bench_train(
        str(store),
        steps=steps,
        batch_size=batch_size,
        problems=problems,
        warmup_steps=warmup_steps,
        force_bf16=force_bf16,
    )
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if json_path is not None:
        json_path.write_text(text + "\n")


def register(app: typer.Typer) -> None:
    """`glore bench` (entry point `glore.commands`)."""
    app.add_typer(bench_app, name="bench")
