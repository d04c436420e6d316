"""`on_stage`: the pipeline reports each stage as it finishes, in order, with its evidence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from glore.engine.glore import GLoRe
from tests.glore.engine.scripted import FailingGenerator
from tests.glore.engine.test_strategies import Q, models

Events = list[tuple[str, dict[str, Any]]]


def _solve(strategy: str = "glore", **options: Any) -> tuple[Events, Any]:
    events: Events = []

    async def hook(stage: str, payload: dict[str, Any]) -> None:
        events.append((stage, payload))

    m = options.pop("models", None) or models()
    result = asyncio.run(GLoRe(m).asolve(Q, strategy, on_stage=hook, **options))
    return events, result


def test_glore_reports_every_stage_in_order_with_its_evidence() -> None:
    events, result = _solve()
    assert [s for s, _ in events] == ["draft", "orm", "sorm", "global", "local", "final"]
    assert all(p["index"] == 0 for _, p in events)
    payload = dict(events)
    (draft,) = payload["draft"]["candidates"]
    assert draft["name"] == "draft" and draft["steps"][-1] == "#### 4"
    assert payload["orm"]["scores"] == [{"candidate": "draft", "orm_score": 0.3}]
    (sorm,) = payload["sorm"]["scores"]
    assert sorm == {
        "candidate": "draft",
        "sorm_values": [0.9, 0.1, 0.1],
        "first_error": 1,
        "first_error_flagged": True,
        "checks": ["ok", "wrong", "unchecked"],  # the draft's slip, found exactly as well
    }
    assert payload["global"]["candidate"]["name"] == "global"
    local = payload["local"]["candidate"]
    assert local["name"] == "local" and local["orm_score"] == 0.8 and local["answer"] == "5"
    assert payload["final"]["result"] == result.to_json()


@pytest.mark.parametrize(
    ("strategy", "options", "stages"),
    [
        ("greedy", {}, ["draft", "orm", "sorm", "final"]),
        ("best_of_n", {"best_of": 2}, ["draft", "orm", "sorm", "final"]),
        ("local", {}, ["draft", "orm", "sorm", "local", "final"]),
        ("glore", {"mode": "gated", "tau_when": 0.1}, ["draft", "orm", "sorm", "final"]),
    ],
)
def test_each_strategy_reports_the_stages_it_runs(
    strategy: str, options: dict[str, Any], stages: list[str]
) -> None:
    events, _ = _solve(strategy, **options)
    assert [s for s, _ in events] == stages
    if strategy == "best_of_n":
        assert len(events[0][1]["candidates"]) == 2
        assert [s["candidate"] for s in events[1][1]["scores"]] == ["sample-0", "sample-1"]


def test_a_sync_hook_hears_each_question_of_a_batch() -> None:
    events: list[tuple[str, int]] = []
    asyncio.run(
        GLoRe(models()).asolve_batch(
            [Q, Q], on_stage=lambda stage, payload: events.append((stage, payload["index"]))
        )
    )
    for i in (0, 1):
        stages = [s for s, j in events if j == i]
        assert stages == ["draft", "orm", "sorm", "global", "local", "final"]


def test_a_failed_refinement_reports_no_refinement_and_a_degraded_final() -> None:
    events, result = _solve(models=models(local_gen=FailingGenerator()))
    assert [s for s, _ in events] == ["draft", "orm", "sorm", "final"]
    assert result.degraded and events[-1][1]["result"]["degraded"]


def test_a_failing_hook_stops_the_run() -> None:
    def hook(stage: str, payload: dict[str, Any]) -> None:
        if stage == "sorm":
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        asyncio.run(GLoRe(models()).asolve(Q, on_stage=hook))
