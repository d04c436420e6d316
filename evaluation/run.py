"""One evaluation run: check inputs, load the models, run the reports, write the run folder
(`report.json`, `report.md`, PNG plots)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from evaluation.config import EvalConfig
from evaluation.inputs import check_inputs
from evaluation.label_cache import cache_key, cached_labels
from evaluation.refine_report import refine_report
from evaluation.render import markdown, plots
from evaluation.reward_report import draw_samples, reward_report
from glore import GLoRe, __version__
from glore.engine.config import EngineConfig
from glore.engine.loading import GreedyEngine


def machine() -> str:
    """What ran it, for the report: the numbers in it are this machine's."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, {gpu}"


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def evaluate(
    cfg: EvalConfig,
    store: str | Path,
    out: str | Path,
    *,
    device: str | None = None,
    labels: Path | None = None,
    greedy_engine: GreedyEngine = "auto",
) -> dict[str, Any]:
    """Run `cfg`'s reports on the models of `store` and write them into `out`; `labels`:
    the reward report's labelled samples cached in that file (`evaluation.label_cache`);
    `greedy_engine` as `GLoRe.from_pretrained` takes it (the report names the student's
    backend)."""
    inputs = check_inputs(cfg, store)  # before any model loads: bad input fails fast
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    engine = GLoRe.from_pretrained(inputs.store, device=device, greedy_engine=greedy_engine)
    data: dict[str, Any] = {}
    if "reward" in cfg.reports:
        key = cache_key(cfg, inputs.store)
        samples = cached_labels(
            labels, key, lambda: draw_samples(engine.models, inputs.problems, cfg)
        )
        data["reward"] = reward_report(engine.models, inputs.problems, cfg, samples)
    if "refine" in cfg.reports:
        data["refine"] = refine_report(engine, inputs.problems, cfg)
    data["meta"] = {
        "task": inputs.task_label,
        "split": cfg.split_name,
        "seed": cfg.seed,
        "task_seed": cfg.task_seed,
        "store": str(inputs.store),
        "store_hash": inputs.store_hash,
        "models": dict(engine.models.versions),
        "student_backend": type(engine.models.student).__name__,
        **_guard(engine.models, cfg),
        "glore_version": __version__,
        "config": dataclasses.asdict(cfg),
        "command": shlex.join(["glore", *sys.argv[1:]]) if sys.argv[1:2] == ["eval"] else "",
        "machine": machine(),
        "seconds": round(time.time() - started, 1),
    }
    data["meta"]["plots"] = plots(data, out)
    (out / "report.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(markdown(data))
    return data


def _guard(models: Any, cfg: EvalConfig) -> dict[str, float]:
    """The rerank margin and floor the engine's default rows ran with."""
    guard = models.guard(
        EngineConfig(
            rerank_margin=_float_or_none(cfg.engine.get("rerank_margin")),
            rerank_floor=_float_or_none(cfg.engine.get("rerank_floor")),
        )
    )
    return {"rerank_margin": guard.margin, "rerank_floor": guard.floor}
