"""The reward-model report: how well the ORM and the SORM judge each step of held-out
student samples, against rollout labels and (on arith) exact labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evaluation.config import EvalConfig
from evaluation.metrics import (
    auroc,
    bootstrap_paired_delta,
    expected_calibration_error,
    first_below,
    localisation,
    reliability,
)
from evaluation.step_labels import LabelledSample, label_samples
from glore.backends.sync import run_sync
from glore.engine.steps import Models
from glore.formats import Problem

SCORERS = ("orm", "sorm")


def _points(
    samples: Sequence[LabelledSample], scores: Sequence[Sequence[float]], source: str, where: str
) -> tuple[list[float], list[bool]]:
    """(probability, label) of every intermediate or final step."""
    probs, labels = [], []
    for s, values in zip(samples, scores, strict=True):
        truth = s.rollout if source == "rollout" else s.exact
        assert truth is not None
        last = len(s.steps) - 1
        for i, (p, y) in enumerate(zip(values, truth, strict=True)):
            if (i == last) == (where == "final"):
                probs.append(p)
                labels.append(y)
    return probs, labels


def _step_metrics(probs: Sequence[float], labels: Sequence[bool], tau: float) -> dict[str, Any]:
    right = sum((p >= tau) == y for p, y in zip(probs, labels, strict=True))
    return {
        "steps": len(probs),
        "positive_rate": sum(labels) / len(labels) if labels else None,
        "accuracy": right / len(probs) if probs else None,
        "auroc": auroc(probs, labels),
    }


def _first_error(labels: Sequence[bool]) -> int | None:
    return next((i for i, y in enumerate(labels) if not y), None)


def score_model(
    samples: Sequence[LabelledSample], scores: Sequence[Sequence[float]], source: str, tau: float
) -> dict[str, Any]:
    """One scorer against one label source: step accuracy, AUROC, localisation, calibration."""
    every_p, every_y = _points(samples, scores, source, "intermediate")
    final_p, final_y = _points(samples, scores, source, "final")
    truth = [s.rollout if source == "rollout" else s.exact for s in samples]
    predicted = [first_below(values, tau) for values in scores]
    all_p, all_y = every_p + final_p, every_y + final_y
    return {
        "intermediate": _step_metrics(every_p, every_y, tau),
        "final": _step_metrics(final_p, final_y, tau),
        "first_error": localisation(predicted, [_first_error(t or []) for t in truth]),
        "ece": expected_calibration_error(all_p, all_y),
        "reliability": reliability(all_p, all_y),
    }


def sorm_minus_orm(
    samples: Sequence[LabelledSample],
    scores: dict[str, list[list[float]]],
    source: str,
    cfg: EvalConfig,
) -> dict[str, float] | None:
    """SORM minus ORM step accuracy on intermediate steps, paired by step, with a 95%
    bootstrap interval: the paper's claim is that it is above zero."""
    # _points lists the same steps in the same order for both scorers: pairs line up.
    a, b = (
        [
            float((p >= cfg.tau) == y)
            for p, y in zip(*_points(samples, scores[name], source, "intermediate"), strict=True)
        ]
        for name in ("sorm", "orm")
    )
    if not a:
        return None
    d = bootstrap_paired_delta(a, b, cfg.bootstrap, cfg.seed)
    return {"delta": d.mean, "low": d.low, "high": d.high}


def agreement(samples: Sequence[LabelledSample]) -> dict[str, Any] | None:
    """How often the rollout labels match the exact ones on intermediate steps."""
    pairs = [
        (r, e)
        for s in samples
        if s.exact is not None
        for r, e in zip(s.rollout[:-1], s.exact[:-1], strict=True)
    ]
    if not pairs:
        return None
    return {
        "steps": len(pairs),
        "agreement": sum(r == e for r, e in pairs) / len(pairs),
        "rollout_good_exact_bad": sum(r and not e for r, e in pairs),
        "rollout_bad_exact_good": sum(e and not r for r, e in pairs),
    }


def draw_samples(
    models: Models, problems: Sequence[Problem], cfg: EvalConfig
) -> list[LabelledSample]:
    """The report's held-out student samples with their rollout (and exact) labels."""
    return label_samples(
        models.student,
        problems[: cfg.reward_questions],
        samples=cfg.reward_samples,
        k=cfg.k_eval,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
    )


def reward_report(
    models: Models,
    problems: Sequence[Problem],
    cfg: EvalConfig,
    samples: list[LabelledSample],
) -> dict[str, Any]:
    """The report on `samples`, `draw_samples`'s (or read back by `evaluation.label_cache`)."""
    items = [(s.question, s.steps) for s in samples]
    scores = {name: run_sync(getattr(models, name).score(items)) for name in SCORERS}
    sources = ["rollout"] + (["exact"] if samples and all(s.exact for s in samples) else [])
    return {
        "questions": min(cfg.reward_questions, len(problems)),
        "samples": len(samples),
        "sample_accuracy": sum(s.correct for s in samples) / max(1, len(samples)),
        "k_eval": cfg.k_eval,
        "tau": cfg.tau,
        "label_sources": sources,
        "agreement": agreement(samples),
        "models": {
            name: {src: score_model(samples, scores[name], src, cfg.tau) for src in sources}
            for name in SCORERS
        },
        "sorm_minus_orm": {src: sorm_minus_orm(samples, scores, src, cfg) for src in sources},
    }
