"""`glore solve` and `glore critique`: the pipeline from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from glore.engine.config import EngineConfig
from glore.engine.critique import REVEALS
from glore.engine.result import Candidate, SolveResult
from glore.engine.strategies import STRATEGIES

DEFAULT_STORE = Path("model_store/default")
StoreOpt = Annotated[
    Path,
    typer.Option(
        "--models",
        "--store",
        help="Model store folder or spec file (the name `glore serve` and `glore worker` use; "
        "--store is an alias).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")]


def _flag(c: Candidate, i: int, tau_where: float) -> str:
    if c.name != "draft" or c.first_error != i or not c.sorm_values:
        return ""
    if c.first_error_flagged:
        return "  <- first error"
    return f"  <- lowest step (none below {tau_where}); refined from here"


def _checked(c: Candidate, i: int) -> str:
    """The exact check of step i: `ok`, `WRONG` with the correct value, or `-`."""
    if not c.checks:
        return "  "
    check = c.checks[i]
    mark = {"ok": "ok", "unchecked": " -"}.get(check.check, f"WRONG (should be {check.expected})")
    warnings = "".join(f"  [{w}]" for w in check.warnings)
    return f"{mark}{warnings}"


def _trace(result: SolveResult, tau_where: float) -> None:
    for c in result.candidates:
        mark = "*" if c.name == result.winner else " "
        typer.echo(f"{mark} [{c.name}] ORM {c.orm_score:.3f}  answer {c.answer}")
        for i, step in enumerate(c.steps):
            value = f"{c.sorm_values[i]:.2f}" if c.sorm_values else "  - "
            typer.echo(f"    {value} {_checked(c, i):>2}  {step}{_flag(c, i, tau_where)}")
    typer.echo(f"winner: {result.winner} ({result.reason})")
    if result.degraded:
        typer.echo(f"degraded: {result.degraded_reason}")
    for stage, cost in result.stages.items():
        typer.echo(f"  {stage:>7}: {cost.seconds * 1000:7.1f} ms  {cost.tokens} tokens")


def solve(
    question: Annotated[str, typer.Argument(help="The question to solve.")],
    *,
    store: StoreOpt = DEFAULT_STORE,
    strategy: Annotated[str, typer.Option(help=f"One of: {', '.join(STRATEGIES)}.")] = "glore",
    mode: Annotated[str, typer.Option(help="always or gated.")] = "always",
    where: Annotated[
        str, typer.Option(help="sorm (the paper) or checked (the exact check as well).")
    ] = "sorm",
    rerank: Annotated[
        str, typer.Option(help="orm (the paper) or checked (wrong arithmetic loses first).")
    ] = "orm",
    trace: Annotated[
        bool, typer.Option("--trace", help="Show candidates and step values.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Solve a question: draft, find the first error, refine, rerank; print the answer."""
    from glore.engine.glore import GLoRe

    options = {"mode": mode, "where": where, "rerank": rerank}
    EngineConfig(**options)  # type: ignore[arg-type]  # bad options fail before weights load
    result = GLoRe.from_pretrained(store).solve(question, strategy=strategy, **options)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    if trace:
        _trace(result, EngineConfig().tau_where)
    typer.echo(f"answer: {result.answer}")


def critique(
    question: Annotated[str, typer.Argument(help="The question.")],
    solution: Annotated[str, typer.Argument(help="The working to check, one step per line.")],
    store: StoreOpt = DEFAULT_STORE,
    reveal: Annotated[str, typer.Option(help=f"One of: {', '.join(REVEALS)}.")] = "full",
) -> None:
    """Find where a worked solution first goes wrong (the SORM and an exact check of each
    step's arithmetic), and correct it as far as --reveal allows."""
    from glore.engine.glore import GLoRe

    result = GLoRe.from_pretrained(store).critique(question, solution, reveal=reveal)
    typer.echo(json.dumps(result.to_json(), indent=2))
