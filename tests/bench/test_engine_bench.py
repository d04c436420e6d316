"""`glore bench engine`'s decode-speed part on the default store: the served generator, the
lean loop and `model.generate` side by side, each row consistent with itself."""

from pathlib import Path

from bench.engine import _decode_speed
from glore.engine.glore import GLoRe
from glore.tasks.arith import ArithTask

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


def test_decode_rows_measure_all_three_side_by_side() -> None:
    engine = GLoRe.from_pretrained(STORE)
    questions = [p.question for p in ArithTask().load("validation", 4)]
    rows = _decode_speed(engine, questions, (1, 4), peak=1e11)
    assert [r["batch"] for r in rows] == [1, 4]
    for row in rows:
        assert row["context"] > 0  # the ceilings time attention over it
        rates = {name: row[name]["tokens_per_s"] for name in ("scheduler", "lean", "hf_generate")}
        assert all(rate > 0 for rate in rates.values()), rates
        for name in ("scheduler", "lean"):
            want = rates[name] / rates["hf_generate"]
            assert abs(row[f"{name}_vs_hf"] - want) <= 0.01 * max(1.0, want)
            assert 0 < row[name]["fraction_of_matmul_peak"] < 1


def test_scoring_part_times_the_scorers_apart_and_sharing_one_base() -> None:
    """(c) runs each of `SCORER_VARIANTS` on the same engine: with the SORM apart from the
    ORM and, as the loader makes it, sharing its model and passes; every variant scores the
    drafts as the engine's own scorers do."""
    from bench.engine import SCORER_VARIANTS, _modes, _open_pair, _scoring

    orm, sorm = _open_pair(str(STORE), {}, share=True)
    assert sorm.model is orm.model and sorm.shared is orm.shared is not None
    orm, sorm = _open_pair(str(STORE), {}, share=False)
    assert sorm.model is not orm.model and sorm.shared is None
    engine = GLoRe.from_pretrained(STORE)
    questions = [p.question for p in ArithTask().load("validation", 4)]
    out = _scoring(engine, str(STORE), questions, peak=1e11)
    assert set(SCORER_VARIANTS) <= set(out)
    for name in ("float32_plain", "float32_apart", "float32"):
        assert out[name]["max_prob_diff"] < 1e-5 and 0 < out[name]["share"] < 1, out[name]
    modes = _modes(engine, questions, str(STORE))
    assert modes["always_apart"]["refined"] == modes["always"]["refined"] == len(questions)
    assert (
        modes["always_apart"]["wall_vs_draft"] > 0 and modes["always_staged"]["wall_vs_draft"] > 0
    )
    assert engine.models.sorm.shared is not None  # the engine's own scorers are back


def test_concurrency_part_splits_the_lanes_time_between_scoring_and_decoding() -> None:
    from bench.engine import _concurrency

    engine = GLoRe.from_pretrained(STORE, greedy_engine="torch")  # the bench's default
    questions = [p.question for p in ArithTask().load("validation", 3)]
    out = _concurrency(engine, questions)
    wall = out["questions"] / out["concurrent_qps"]
    assert out["lane_jobs_s"] > 0 and out["lane_steps_s"] > 0  # scored and decoded
    # Both ran on the one lane during the concurrent run, so together within its wall.
    assert out["lane_jobs_s"] + out["lane_steps_s"] <= wall * 1.05 + 0.05
