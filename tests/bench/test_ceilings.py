"""Each goal row's ceiling on this machine (`bench.ceilings`): the shapes it times are the
default student's own projections, every ceiling is computed from its report part as its
docstring says, and a part the report lacks gives no ceiling rather than a wrong one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from bench.ceilings import (
    attention_seconds,
    ceilings,
    decode_shapes,
    matmul_seconds,
    train_shapes,
)

STUDENT = Path(__file__).resolve().parents[2] / "model_store" / "default" / "student"


@pytest.fixture(scope="module")
def config() -> Any:
    return AutoConfig.from_pretrained(STUDENT)


def test_the_shapes_are_the_students_projections(config: Any) -> None:
    model = AutoModelForCausalLM.from_pretrained(STUDENT)
    per_layer = sum(
        int(p.numel())
        for n, p in model.named_parameters()
        if ".layers.0." in n and "proj" in n and n.endswith("weight")
    )
    layer, head = decode_shapes(config)
    assert sum(o * i for o, i in layer) == per_layer  # fused q/k/v and gate/up: the same weights
    assert sum(o * i for o, i in train_shapes(config)) == per_layer
    assert head == [tuple(model.lm_head.weight.shape)]


def test_timed_kernels_grow_with_their_work(config: Any) -> None:
    layer, _ = decode_shapes(config)
    assert 0 < matmul_seconds(layer, 8, repeats=2) < matmul_seconds(layer, 2048, repeats=2)
    forward = matmul_seconds(layer, 512, repeats=2)
    assert matmul_seconds(layer, 512, backward=True, repeats=2) > forward
    assert attention_seconds(config, 4, 16, decode=True, repeats=2) > 0
    assert attention_seconds(config, 4, 16, decode=False, repeats=2) > 0


def _report() -> dict[str, Any]:
    return {
        "decode": [
            {
                "batch": 64,
                "context": 100,
                "scheduler": {"tokens_per_s": 4000.0, "fraction_of_matmul_peak": 0.1},
            },
        ],
        "rollouts": {
            "rollouts": 512,
            "baseline_rollouts_per_s": 50.0,
            "continuous": {"decode_tokens": 12_800},
        },
        "concurrency": {"questions": 64, "sequential_qps": 2.0, "lane_jobs_s": 4.0},
        "modes": {
            "draft_only": {"tokens_per_question": 60.0},
            "always": {"tokens_per_question": 150.0},
        },
        "training": {
            "setup": {"steps": 4, "batch_size": 8},
            "settings": {
                "random": {"tokens_per_s": 1000.0},
                "grouped": {"tokens": 3000, "padded_tokens": 3200},
            },
        },
    }


def test_each_ceiling_follows_from_its_part(config: Any) -> None:
    out = ceilings(_report(), config)
    assert set(out) == {"decode_64", "rollouts", "concurrency", "always", "training"}
    assert out["always"]["value"] == 2.5  # 150 tokens a question against the draft's 60
    assert out["concurrency"]["value"] == 8.0  # 32 s one at a time, 4 s of scoring together
    decode = out["decode_64"]
    # The measured row's 0.1 of the peak at 4,000 tok/s, scaled to the ceiling's step.
    assert decode["value"] == pytest.approx(64 / decode["step_ms"] * 1000 * 0.1 / 4000, rel=1e-3)
    assert decode["matmul_only"] >= decode["value"] and decode["attention_ms"] > 0
    rollouts = out["rollouts"]
    assert rollouts["rollouts_per_s"] == pytest.approx(
        512 / (12_800 * decode["step_ms"] / 1000 / 64), rel=1e-3
    )
    assert rollouts["value"] == pytest.approx(rollouts["rollouts_per_s"] / 50.0, rel=1e-3)
    training = out["training"]
    assert training["rows_per_step"] == 800
    assert training["value"] == pytest.approx(training["tokens_per_s"] / 1000.0, rel=1e-3)
    assert training["matmul_only"] > training["value"]
    assert all(isinstance(row["assumes"], str) and row["assumes"] for row in out.values())


def test_a_part_the_report_lacks_gives_no_ceiling(config: Any) -> None:
    report = _report()
    del report["concurrency"]["lane_jobs_s"], report["training"]
    report["decode"][0].pop("context")  # a report from before the context was recorded
    assert set(ceilings(report, config)) == {"always"}
    ct2 = _report()
    ct2["machine"] = {"greedy_engine": "ct2"}  # its greedy batches are lane jobs too
    assert "concurrency" not in ceilings(ct2, config)
