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
        rates = {name: row[name]["tokens_per_s"] for name in ("scheduler", "lean", "hf_generate")}
        assert all(rate > 0 for rate in rates.values()), rates
        for name in ("scheduler", "lean"):
            want = rates[name] / rates["hf_generate"]
            assert abs(row[f"{name}_vs_hf"] - want) <= 0.01 * max(1.0, want)
            assert 0 < row[name]["fraction_of_matmul_peak"] < 1
