"""`glore eval`: the reward-model and refinement reports for a model store or spec file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evaluation.config import REPORTS, ROWS, EvalConfig
from glore.engine.config import RERANKS
from glore.errors import InvalidInputError


def _list(text: str | None, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if text is None:
        return allowed
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [x for x in items if x not in allowed]
    if unknown:
        raise InvalidInputError(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return items


def eval_command(
    *,
    out: Annotated[Path, typer.Option(help="Run folder for report.json, report.md, plots.")],
    store: Annotated[
        Path,
        typer.Option(
            "--models",
            "--store",
            help="Model store folder, or a spec file naming remote endpoints (--store is an "
            "alias).",
        ),
    ] = Path("model_store/default"),
    task: Annotated[str, typer.Option(help="arith, arith-hard, gsm8k or svamp.")] = "arith",
    split: Annotated[str | None, typer.Option(help="Split (default: the task's test).")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset path (gsm8k, svamp).")] = None,
    questions: Annotated[int, typer.Option(help="Questions in the refinement table.")] = 500,
    reward_questions: Annotated[int, typer.Option(help="Questions sampled for labels.")] = 100,
    reward_samples: Annotated[int, typer.Option(help="Samples per reward question.")] = 2,
    k_eval: Annotated[int, typer.Option(help="Rollouts per prefix for the labels.")] = 32,
    reports: Annotated[str | None, typer.Option(help="Comma list: reward,refine.")] = None,
    rows: Annotated[str | None, typer.Option(help=f"Comma list of {', '.join(ROWS)}.")] = None,
    tau_when: Annotated[
        float | None, typer.Option(help="Gated rows keep drafts the ORM trusts (engine's).")
    ] = None,
    tau_where: Annotated[
        float | None, typer.Option(help="SORM first-error threshold (engine's).")
    ] = None,
    global_temperature: Annotated[
        float | None, typer.Option(help="Global refiner's temperature (engine's: 0, greedy).")
    ] = None,
    local_temperature: Annotated[
        float | None, typer.Option(help="Local refiner's temperature (engine's: 0, greedy).")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    batch: Annotated[int, typer.Option(help="Questions per engine call.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of samples, rollouts, bootstrap.")] = 0,
    task_seed: Annotated[
        int, typer.Option(help="arith generator seed (0: the store's; other: fresh problems).")
    ] = 0,
    device: Annotated[str | None, typer.Option(help="cpu, cuda... (default: best).")] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="JSON cache of the reward report's labelled samples: read if present (same "
            "student, task, split and sampling), else written."
        ),
    ] = None,
    greedy_engine: Annotated[
        str, typer.Option(help="Greedy calls on auto, torch (reference) or ct2 (CPU).")
    ] = "auto",
) -> None:
    """Measure the paper's claims: the reward-model report and the refinement table."""
    from evaluation.render import refine_table, reward_table
    from evaluation.run import evaluate

    cfg = EvalConfig(
        task=task,
        split=split,
        data=data,
        questions=questions,
        reward_questions=reward_questions,
        reward_samples=reward_samples,
        k_eval=k_eval,
        reports=_list(reports, REPORTS, "reports"),  # type: ignore[arg-type]
        rows=_list(rows, ROWS, "rows"),
        bootstrap=bootstrap,
        batch=batch,
        seed=seed,
        task_seed=task_seed,
        engine={
            k: v
            for k, v in {
                "tau_when": tau_when,
                "tau_where": tau_where,
                "global_temperature": global_temperature,
                "local_temperature": local_temperature,
            }.items()
            if v is not None
        },
    )
    result = evaluate(
        cfg,
        store,
        out,
        device=device,
        labels=labels,
        greedy_engine=greedy_engine,  # type: ignore[arg-type]  # the loader checks it
    )
    if "reward" in result:
        typer.echo("\n".join(reward_table(result["reward"])))
    if "refine" in result:
        typer.echo("\n".join(refine_table(result["refine"])))
    typer.echo(f"wrote {out}/report.json, report.md, {', '.join(result['meta']['plots'])}")


def calibrate_command(
    *,
    store: Annotated[
        Path, typer.Option("--models", "--store", help="Model store folder (--store: alias).")
    ] = Path("model_store/default"),
    questions: Annotated[int, typer.Option(help="Validation questions.")] = 300,
    task: Annotated[
        str, typer.Option(help="arith, gsm8k or svamp: whose validation split.")
    ] = "arith",
    data: Annotated[str | None, typer.Option(help="Dataset path (gsm8k, svamp).")] = None,
    tau_where: Annotated[
        float | None, typer.Option(help="SORM first-error threshold (engine's).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Questions per engine call.")] = 100,
    candidates: Annotated[
        Path | None,
        typer.Option(help="JSON cache of the candidates: read if present, else written."),
    ] = None,
    orm: Annotated[
        Path | None,
        typer.Option(help="Score the candidates with this ORM instead (a variant's model)."),
    ] = None,
    min_gain: Annotated[
        float, typer.Option(help="Least validation gain over the draft for a margin < 1.")
    ] = 0.01,
    write: Annotated[
        bool, typer.Option(help="Keep the margin in the store's manifest.json.")
    ] = False,
    rerank: Annotated[
        str, typer.Option(help="orm (the default rerank) or checked (the exact check first).")
    ] = "orm",
    abstain: Annotated[
        float | None,
        typer.Option(
            help="Also choose the abstention threshold: the lowest at which the answered "
            "questions are at least this right (e.g. 0.75)."
        ),
    ] = None,
    choose_on: Annotated[
        int | None,
        typer.Option(
            help="Also choose the guard on the first N questions only and report what it "
            "does on the rest (held out)."
        ),
    ] = None,
) -> None:
    """Choose the rerank margin on validation so the default never loses to the draft
    (and with --abstain the abstention threshold); with --orm, the validation numbers
    another ORM would give the same candidates; with --choose-on, held-out numbers."""
    import json

    from evaluation.calibrate import (
        calibrate,
        candidates_of,
        check_choose_on,
        heldout,
        rescore,
        scored,
        write_manifest,
    )
    from evaluation.inputs import validation_problems

    if not 1 <= questions <= 100_000:
        raise InvalidInputError(f"questions must be in 1..100000; got {questions}")
    if not 0 <= min_gain <= 1:
        raise InvalidInputError(f"min_gain must be in [0, 1]; got {min_gain}")
    if write and orm is not None:
        raise InvalidInputError("--write keeps the store's own ORM margin; drop --orm")
    if rerank not in RERANKS:
        raise InvalidInputError(f"rerank must be one of {', '.join(RERANKS)}; got {rerank!r}")
    if write and rerank != "orm":
        raise InvalidInputError("--write keeps the margin of the default rerank (orm)")
    if abstain is not None and not 0 < abstain <= 1:
        raise InvalidInputError(f"abstain must be in (0, 1]; got {abstain}")
    if choose_on is not None:
        check_choose_on(choose_on, questions)
    options: dict[str, object] = {"mode": "always"}
    if tau_where is not None:
        options["tau_where"] = tau_where
    key: dict[str, Any] = {"store": str(store), "questions": questions, "options": options}
    if task != "arith":  # an arith key stays as it was, so its caches still match
        key |= {"task": task, "data": data}
    validation_problems(task, data, 1)  # a bad task or data path fails before any work
    cache = candidates_of(key, candidates, batch)
    if orm is not None:
        cache = rescore(cache, orm)
    rows = scored(cache)
    report, section = calibrate(rows, min_gain=min_gain, rerank_by=rerank, abstain_target=abstain)
    report |= {**key, "orm": str(orm) if orm else "the store's"}
    if choose_on is not None:
        report["heldout"] = heldout(rows, choose_on, min_gain=min_gain, rerank_by=rerank)
    typer.echo(json.dumps({k: v for k, v in report.items() if "curve" not in k}, indent=1))
    if write:
        typer.echo(f"wrote {write_manifest(store, section)}")


def register(app: typer.Typer) -> None:
    """`glore eval` and `glore calibrate` (entry point `glore.commands`)."""
    app.command("eval")(eval_command)
    app.command("calibrate")(calibrate_command)
