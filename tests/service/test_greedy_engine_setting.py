"""`GLORE_GREEDY_ENGINE`: auto (the default), torch or ct2; anything else is refused at start,
and ct2 loads the embedded generators with their greedy calls on CTranslate2."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.engine import load_engine
from service.settings import Settings

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


def test_the_setting_takes_torch_or_ct2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).greedy_engine == "auto"  # type: ignore[call-arg]
    monkeypatch.setenv("GLORE_GREEDY_ENGINE", "onnx")
    with pytest.raises(ValidationError, match="greedy_engine"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_ct2_serves_greedy_calls_from_ctranslate2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ctranslate2", reason="CTranslate2 is the optional `ct2` extra")
    from glore.backends.ct2 import GreedyOnCt2

    monkeypatch.setenv("GLORE_CT2_CACHE", str(tmp_path))
    settings = Settings(_env_file=None, models=str(STORE), greedy_engine="ct2")  # type: ignore[call-arg]
    engine = load_engine(settings)
    models = engine.models
    for gen in (models.student, models.global_refiner, models.local_refiner):
        assert isinstance(gen, GreedyOnCt2)
    result = engine.solve("Mia has 12 apples. She buys 3 more. How many apples does Mia have now?")
    assert [c.name for c in result.candidates] == ["draft", "global", "local"]
    for gen in (models.student, models.global_refiner, models.local_refiner):
        assert gen.ct2.batcher.batches >= 1  # the draft and both refinements ran on CTranslate2
