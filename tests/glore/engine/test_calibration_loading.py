"""A store's calibrated engine settings: read from its manifest or a spec's `engine` key,
checked before any weights load, and used as the default rerank margin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from glore import GLoRe
from glore.engine.loading import calibration
from glore.errors import ConfigError

STORE = Path(__file__).resolve().parents[3] / "model_store" / "default"
ROLES = ("student", "orm", "sorm", "global", "local")


def test_manifest_and_spec_calibration(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"engine": {"rerank_margin": 0.25}}))
    assert calibration(tmp_path, {}) == {"rerank_margin": 0.25}
    assert calibration(tmp_path, {"engine": {"rerank_margin": 0.5}}) == {"rerank_margin": 0.5}
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "old store"}))
    assert calibration(tmp_path, {}) == {}


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.3", True])
def test_a_bad_margin_is_named(tmp_path: Path, bad: object) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"engine": {"rerank_margin": bad}}))
    with pytest.raises(ConfigError, match=r"engine\.rerank_margin must be a number in \[0, 1\]"):
        calibration(tmp_path, {})


def test_the_engine_takes_the_stores_margin(tmp_path: Path) -> None:
    spec = {r: {"path": str(STORE / r)} for r in ROLES}
    spec["engine"] = {"rerank_margin": 0.7}  # type: ignore[dict-item]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert GLoRe.from_pretrained(path).models.rerank_margin == 0.7
    store = tmp_path / "store"
    shutil.copytree(STORE, store)
    data = json.loads((store / "manifest.json").read_text())
    data["engine"] = {"rerank_margin": 0.35, "calibration": {"split": "validation"}}
    (store / "manifest.json").write_text(json.dumps(data))
    assert GLoRe.from_pretrained(store).models.rerank_margin == 0.35
    data["engine"] = {"rerank_margin": 2}
    (store / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="rerank_margin"):
        GLoRe.from_pretrained(store)


def test_the_engine_takes_the_stores_floor_and_an_option_overrides_it(tmp_path: Path) -> None:
    from glore.engine.config import EngineConfig
    from glore.engine.rules import Guard

    spec = {r: {"path": str(STORE / r)} for r in ROLES}
    spec["engine"] = {"rerank_margin": 0.1, "rerank_floor": 0.35}  # type: ignore[dict-item]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    models = GLoRe.from_pretrained(path).models
    assert models.guard(EngineConfig()) == Guard(0.1, 0.35)
    assert models.guard(EngineConfig(rerank_floor=0.0)) == Guard(0.1, 0.0)
    (tmp_path / "manifest.json").write_text(json.dumps({"engine": {"rerank_floor": 1.5}}))
    with pytest.raises(ConfigError, match=r"engine\.rerank_floor must be a number in \[0, 1\]"):
        calibration(tmp_path, {})


def test_the_engine_takes_the_stores_abstention_threshold(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"engine": {"abstain_below": 0.3}}))
    assert calibration(tmp_path, {}) == {"abstain_below": 0.3}
    spec = {r: {"path": str(STORE / r)} for r in ROLES}
    spec["engine"] = {"abstain_below": 0.3}  # type: ignore[dict-item]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    engine = GLoRe.from_pretrained(path)
    assert engine.models.abstain_below == 0.3 and engine.models.abstention(None) == 0.3
    assert engine.models.abstention(0.0) == 0.0  # an option overrides the store's
    (tmp_path / "manifest.json").write_text(json.dumps({"engine": {"abstain_below": -1}}))
    with pytest.raises(ConfigError, match=r"engine\.abstain_below must be a number in \[0, 1\]"):
        calibration(tmp_path, {})
