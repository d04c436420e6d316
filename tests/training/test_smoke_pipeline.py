"""`recipes/smoke.yaml` end to end: every stage, resumability, determinism, loadable models."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.errors import ConfigError
from training.pipeline import STAGES, run_stages
from training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("smoke")
    data = yaml.safe_load((ROOT / "recipes" / "smoke.yaml").read_text())
    data["export"]["store"] = str(tmp / "store")
    recipe_path = tmp / "smoke.yaml"
    recipe_path.write_text(yaml.safe_dump(data))
    out = tmp / "run"
    run_stages(load_recipe(recipe_path), out)
    return recipe_path, out, tmp / "store" / "smoke"


def test_every_stage_completes_and_a_rerun_skips_them(smoke: tuple[Path, Path, Path]) -> None:
    recipe_path, out, _ = smoke
    logs: list[str] = []
    summaries = run_stages(load_recipe(recipe_path), out, log=logs.append)
    assert [s["stage"] for s in summaries] == list(STAGES)
    assert all(line.endswith("complete, skipped") for line in logs)


def test_store_models_load_with_auto_classes(smoke: tuple[Path, Path, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer

    _, _, store = smoke
    for role in ("student", "global", "local"):
        AutoModelForCausalLM.from_pretrained(store / role)
    for role in ("orm", "sorm"):
        model = AutoModelForTokenClassification.from_pretrained(store / role)
        assert model.config.num_labels == 1
    tok = AutoTokenizer.from_pretrained(store / "student")
    assert tok.convert_tokens_to_ids("[BAD]") != tok.unk_token_id
    assert all((store / r / "model.safetensors").is_file() for r in ("student", "orm", "sorm"))


def test_manifest_says_how_models_were_made(smoke: tuple[Path, Path, Path]) -> None:
    _, _, store = smoke
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["format_version"] == "1"
    assert manifest["init"]["orm"] == manifest["init"]["sorm"] == "student"
    assert set(manifest["stage_seconds"]) == set(STAGES) - {"export"}
    held = manifest["heldout"]
    assert 0.0 <= held["student_greedy_accuracy"] <= 1.0
    assert set(held["orm"]) == {"final_answer_accuracy", "auroc"}
    assert manifest["stages"]["student"]["sft"]["losses"]
    sorm = manifest["stages"]["sorm-label"]
    assert sorm["unique_prefixes"] <= sorm["prefix_occurrences"]
    assert sorm["batching"]["ratio"] > 0


def _same_data(out: Path, other: Path) -> None:
    """Run `other` wrote the same sample and rollout chunk files as `out`, byte for byte."""
    for folder in ("sample/chunks", "sorm-label/rollouts"):
        first = sorted((out / folder).glob("*.jsonl"))
        assert first
        for path in first:
            assert path.read_bytes() == (other / folder / path.name).read_bytes(), path


def test_same_recipe_and_seed_give_the_same_data(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    recipe_path, out, _ = smoke
    again = tmp_path / "again"
    run_stages(load_recipe(recipe_path), again, ("tokenizer", "student", "sample", "sorm-label"))
    _same_data(out, again)
    assert (out / "sorm-label/sorm_labels.jsonl").read_bytes() == (
        again / "sorm-label/sorm_labels.jsonl"
    ).read_bytes()


def test_two_generation_processes_write_the_data_one_process_writes(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`gen_processes: 2`: the chunks are spread over two spawned processes of one thread
    each, and the samples and rollouts are the one-process run's."""
    recipe_path, out, _ = smoke
    split = tmp_path / "split.yaml"
    data = yaml.safe_load(recipe_path.read_text())
    split.write_text(yaml.safe_dump({**data, "threads": 2, "gen_processes": 2}))
    two = tmp_path / "two"
    run_stages(load_recipe(split), two, ("tokenizer", "student", "sample", "sorm-label"))
    _same_data(out, two)
    assert len(list((two / "sample/chunks").glob("*.jsonl"))) >= 2  # both processes had chunks
    one_thread = tmp_path / "one.yaml"
    one_thread.write_text(yaml.safe_dump({**data, "threads": 1, "gen_processes": 2}))
    with pytest.raises(ConfigError, match="gen_processes"):
        load_recipe(one_thread)


def test_an_interrupted_stage_resumes_from_its_chunks(smoke: tuple[Path, Path, Path]) -> None:
    """What Ctrl-C leaves: finished chunk files, no summary. The rerun redoes only the
    missing chunk and writes the same bytes."""
    recipe_path, out, _ = smoke
    chunks = sorted((out / "sample" / "chunks").glob("*.jsonl"))
    assert len(chunks) >= 2
    kept = {p: p.stat().st_mtime_ns for p in chunks[1:]}
    lost = chunks[0].read_bytes()
    chunks[0].unlink()
    (out / "sample" / "summary.json").unlink()
    logs: list[str] = []
    run_stages(load_recipe(recipe_path), out, ("sample",), log=logs.append)
    assert chunks[0].read_bytes() == lost
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # not redone
    assert logs[-1].startswith("[sample] done")


def test_an_orm_variant_trains_on_the_cached_run(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from glore.errors import ConfigError

    recipe_path, out, _ = smoke
    base_orm = (out / "orm" / "summary.json").read_text()
    data = yaml.safe_load(recipe_path.read_text())
    data["orm"] = {**data.get("orm", {}), "pairwise": 1.0, "questions": 12}
    data["export"] = {**data["export"], "name": "smoke-pairwise"}
    variant = tmp_path / "variant.yaml"
    variant.write_text(yaml.safe_dump(data))
    run_stages(load_recipe(variant), out, ("orm", "export"), variant="pairwise")
    summary = json.loads((out / "variants" / "pairwise" / "orm" / "summary.json").read_text())
    assert summary["questions"] == 12
    assert (out / "orm" / "summary.json").read_text() == base_orm  # the base run is untouched
    store = Path(data["export"]["store"]) / "smoke-pairwise"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["variant"] == "pairwise" and manifest["recipe"]["orm"]["pairwise"] == 1.0
    assert manifest["stages"]["orm"]["questions"] == 12  # the variant's ORM was exported
    assert manifest["stages"]["sample"] == json.loads((out / "sample" / "summary.json").read_text())
    data["sample"] = {**data["sample"], "samples": 3}
    variant.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="also changes sample"):
        run_stages(load_recipe(variant), out, ("orm",), variant="pairwise")
    with pytest.raises(ConfigError, match="cannot run as a variant"):
        run_stages(load_recipe(recipe_path), out, ("sample",), variant="other")


@pytest.mark.parametrize(
    ("verifier", "label", "shape"),
    [
        ({"preset": "micro", "train": {"steps": 3, "batch_size": 8}}, "scratch (micro)", (128, 4)),
        ({"expand": 2}, "student + 2 blocks", (96, 5)),
    ],
)
def test_a_verifier_variant_gives_the_reward_models_their_own_base(
    smoke: tuple[Path, Path, Path],
    tmp_path: Path,
    verifier: dict[str, object],
    label: str,
    shape: tuple[int, int],
) -> None:
    """`verifier` makes a larger base (trained from scratch, or the student grown by block
    expansion) and the ORM and SORM start from it; the exported store serves them beside
    the smaller student."""
    from transformers import AutoConfig

    from glore import GLoRe

    recipe_path, out, _ = smoke
    data = yaml.safe_load(recipe_path.read_text())
    name = "verifier-" + label.split(maxsplit=1)[0]
    data["verifier"] = verifier
    data["export"] = {**data["export"], "name": f"smoke-{name}"}
    variant = tmp_path / "verifier.yaml"
    variant.write_text(yaml.safe_dump(data))
    run_stages(load_recipe(variant), out, ("verifier", "orm", "sorm", "export"), variant=name)
    made = json.loads((out / "variants" / name / "verifier" / "summary.json").read_text())
    assert made["init"] == label and made["layers"] == shape[1]
    assert json.loads((out / "verifier" / "summary.json").read_text())["trained"] is False
    store = Path(data["export"]["store"]) / f"smoke-{name}"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["init"]["orm"] == manifest["init"]["sorm"] == f"verifier ({label})"
    assert manifest["parameters"]["orm"] > manifest["parameters"]["student"]
    student = AutoConfig.from_pretrained(store / "student")
    orm = AutoConfig.from_pretrained(store / "orm")
    assert (student.hidden_size, student.num_hidden_layers) == (96, 3)  # the nano student
    assert (orm.hidden_size, orm.num_hidden_layers) == shape
    critique = GLoRe.from_pretrained(store).critique("Tom has 3 apples.", "3 + 1 = 4\n#### 4")
    assert len(critique.step_values) == 2 and 0.0 <= critique.orm_confidence <= 1.0


def test_a_global_refiner_can_start_from_the_verifier_base(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`global_refiner.init: verifier`: the global refiner is fine-tuned from the verifier
    base (here a micro model, larger than the nano student); the local refiner stays the
    student's; the store serves it."""
    from transformers import AutoConfig

    from glore import GLoRe

    recipe_path, out, _ = smoke
    data = yaml.safe_load(recipe_path.read_text())
    data["verifier"] = {"preset": "micro", "train": {"steps": 3, "batch_size": 8}}
    data["global_refiner"] = {**data.get("global_refiner", {}), "init": "verifier"}
    data["export"] = {**data["export"], "name": "smoke-global-verifier"}
    variant = tmp_path / "global.yaml"
    variant.write_text(yaml.safe_dump(data))
    stages = ("verifier", "orm", "sorm", "global", "local", "export")
    run_stages(load_recipe(variant), out, stages, variant="global-verifier")
    made = json.loads((out / "variants/global-verifier/global/summary.json").read_text())
    assert made["init"] == "verifier (scratch (micro))"
    store = Path(data["export"]["store"]) / "smoke-global-verifier"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["init"]["global"] == made["init"] and manifest["init"]["local"] == "student"
    refiner = AutoConfig.from_pretrained(store / "global")
    assert (refiner.hidden_size, refiner.num_hidden_layers) == (128, 4)  # the micro base's
    result = GLoRe.from_pretrained(store).solve("Tom has 3 apples. He buys 2.", "global")
    assert [c.name for c in result.candidates] == ["draft", "global"]


def _verifier_variant(
    recipe_path: Path, out: Path, tmp_path: Path, name: str, **sections: Any
) -> dict[str, Any]:
    """The smoke recipe with `sections` replaced, run as variant `name` of the smoke run
    (verifier, orm, sorm, export into store `smoke-NAME`); -> the variant's recipe."""
    data = {**yaml.safe_load(recipe_path.read_text()), **sections}
    data["export"] = {**data["export"], "name": f"smoke-{name}"}
    variant = tmp_path / f"{name}.yaml"
    variant.write_text(yaml.safe_dump(data))
    run_stages(load_recipe(variant), out, ("verifier", "orm", "sorm", "export"), variant=name)
    return data


def test_a_likelihood_orm_is_its_base_with_a_fitted_head(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`orm.kind: likelihood`: the ORM is the verifier base with a logistic head fitted to
    the samples' outcomes; the SORM stays on the student (`verifier.sorm: false`); the
    store serves the ORM as a likelihood scorer whose score is its head's."""
    from glore import GLoRe
    from glore.backends.embedded.likelihood import HEAD_FILE, LikelihoodHead, LikelihoodScorer

    recipe_path, out, _ = smoke
    micro = {"preset": "micro", "sorm": False, "train": {"steps": 3, "batch_size": 8}}
    data = _verifier_variant(
        recipe_path, out, tmp_path, "lik", verifier=micro, orm={"kind": "likelihood"}
    )
    summary = json.loads((out / "variants" / "lik" / "orm" / "summary.json").read_text())
    samples = sum(1 for p in (out / "sample" / "chunks").glob("*.jsonl") for _ in p.open())
    assert summary["kind"] == "likelihood" and 0 < summary["samples"] <= samples
    assert len(summary["weights"]) == 3 and summary["log_loss"] >= 0
    # The smoke student is barely trained: where its samples are all wrong, the summary says so.
    assert ("degenerate" in summary) == (summary["positives"] in (0.0, 1.0))
    store = Path(data["export"]["store"]) / "smoke-lik"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["init"]["orm"] == "verifier (scratch (micro)), likelihood head"
    assert manifest["init"]["sorm"] == "student"
    head = LikelihoodHead.load(store / "orm")
    assert [round(w, 4) for w in head.weights] == summary["weights"]
    assert (
        json.loads((store / "orm" / HEAD_FILE).read_text())["fitted_on"]["samples"]
        == (summary["samples"])
    )
    assert set(manifest["heldout"]["orm"]) == {"final_answer_accuracy", "auroc"}
    engine = GLoRe.from_pretrained(store)
    assert isinstance(engine.models.orm, LikelihoodScorer)
    assert not isinstance(engine.models.sorm, LikelihoodScorer)
    critique = engine.critique("Tom has 3 apples.", "3 + 1 = 4\n#### 4")
    (features,) = engine.models.orm.features_sync([("Tom has 3 apples.", ["3 + 1 = 4", "#### 4"])])
    assert critique.orm_confidence == pytest.approx(head.probability(features[-1]))


def test_a_likelihood_sorm_is_its_base_with_a_head_fitted_to_the_step_labels(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`sorm.kind: likelihood`: the SORM is the verifier base with a head on the recipe's
    features fitted at every kept step label of `sorm-label`; the store serves it as a
    likelihood scorer whose step values are its head's at each step prefix."""
    from glore import GLoRe
    from glore.backends.embedded.likelihood import LikelihoodHead, LikelihoodScorer
    from training.rundir import read_jsonl

    recipe_path, out, _ = smoke
    micro = {"preset": "micro", "train": {"steps": 3, "batch_size": 8}}
    features = ["step_min", "worst_step_mean", "mean"]  # a step's own, not only the prefix's
    sorm = {"kind": "likelihood", "features": features}
    data = _verifier_variant(recipe_path, out, tmp_path, "ls", verifier=micro, sorm=sorm)
    summary = json.loads((out / "variants" / "ls" / "sorm" / "summary.json").read_text())
    assert summary["features"] == features and len(summary["weights"]) == 3
    rows = list(read_jsonl(out / "sorm-label" / "sorm_labels.jsonl"))
    kept = [v for row in rows for v in row["labels"] if v is not None]
    assert summary["kind"] == "likelihood" and summary["samples"] == len(rows)
    assert summary["points"] == len(kept)
    assert summary["positives"] == round(sum(kept) / max(1, len(kept)), 4)
    # The smoke student is barely trained: balancing may leave no label, and the summary says so.
    assert ("degenerate" in summary) == (len(set(kept)) < 2)
    store = Path(data["export"]["store"]) / "smoke-ls"
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["init"]["sorm"] == "verifier (scratch (micro)), likelihood head"
    assert manifest["init"]["orm"] == "verifier (scratch (micro))"  # the classifier ORM
    head = LikelihoodHead.load(store / "sorm")
    assert head.features == tuple(features)
    engine = GLoRe.from_pretrained(store)
    assert isinstance(engine.models.sorm, LikelihoodScorer)
    assert not isinstance(engine.models.orm, LikelihoodScorer)
    steps = ["3 + 1 = 4", "4 * 2 = 8", "#### 8"]
    critique = engine.critique("Tom has 3 apples.", "\n".join(steps))
    (features,) = engine.models.sorm.features_sync([("Tom has 3 apples.", steps)])
    assert critique.step_values == pytest.approx([head.probability(f) for f in features])


def test_a_run_seeded_from_the_store_holds_its_models_and_runs_on(
    smoke: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`glore train seed`: the store's student and SORM back in float32 with their
    manifest summaries; the next stage runs on the seeded student; another recipe refused."""
    import torch
    from safetensors.torch import load_file

    from glore.errors import ConfigError
    from training.seed import seed_run

    recipe_path, _, store = smoke
    recipe, out = load_recipe(recipe_path), tmp_path / "seeded"
    assert seed_run(recipe, store, out, ["tokenizer", "student", "sorm"]) == [
        "tokenizer",
        "student",
        "sorm",
    ]
    for stage in ("student", "sorm"):
        mine = load_file(out / stage / "model" / "model.safetensors")
        theirs = load_file(store / stage / "model.safetensors")
        assert all(mine[k].dtype == torch.float32 for k in mine)
        assert all(torch.equal(mine[k], theirs[k].float()) for k in theirs)
    manifest = json.loads((store / "manifest.json").read_text())
    summary = json.loads((out / "student" / "summary.json").read_text())
    assert summary["seeded_from"].startswith(f"{store}/student")
    assert summary["seconds"] == manifest["stages"]["student"]["seconds"]
    sorm = json.loads((out / "sorm" / "summary.json").read_text())
    assert sorm["upstream"] == {s: manifest["stages"][s] for s in ("sample", "sorm-label")}
    (sample,) = run_stages(recipe, out, ("sample",))
    assert sample["samples"] > 0
    # Every model seeded: the export needs no samples, rollouts or pairs, and its manifest
    # keeps what made each model.
    data = yaml.safe_load(recipe_path.read_text())
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({**data, "export": {**data["export"], "name": "again"}}))
    models = ["tokenizer", "student", "orm", "sorm", "global", "local"]
    assert seed_run(load_recipe(again), store, tmp_path / "whole", models) == models
    (export,) = run_stages(load_recipe(again), tmp_path / "whole", ("export",))
    assert export["stage"] == "export"
    made = json.loads((store.parent / "again" / "manifest.json").read_text())["stages"]
    assert (
        "sample" not in made
        and made["local"]["upstream"]["refine-data"] == (manifest["stages"]["refine-data"])
    )
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**yaml.safe_load(recipe_path.read_text()), "seed": 9}))
    with pytest.raises(ConfigError, match=r"student was made by another recipe: .* changes seed"):
        seed_run(load_recipe(other), store, tmp_path / "no", ["student"])
    later = tmp_path / "later.yaml"  # a later stage's section may differ from the store's
    data = yaml.safe_load(recipe_path.read_text())
    later.write_text(yaml.safe_dump({**data, "sorm_label": {**data["sorm_label"], "questions": 3}}))
    assert seed_run(load_recipe(later), store, tmp_path / "later", ["student"]) == ["student"]
    with pytest.raises(ConfigError, match=r"local was made by another recipe: .* sorm_label"):
        seed_run(load_recipe(later), store, tmp_path / "no2", ["local"])
    with pytest.raises(ConfigError, match="does not hold the verifier base"):
        seed_run(recipe, store, tmp_path / "no", ["verifier"])


@pytest.mark.parametrize("stage", ["global", "local"])
def test_a_refiner_already_saved_is_reused_not_retrained(
    smoke: tuple[Path, Path, Path], stage: str
) -> None:
    """What an interrupt between saving and the summary leaves, or a refiner copied in:
    the rerun keeps the saved model (the same bytes, not rewritten) and says so."""
    recipe_path, out, _ = smoke
    weights = out / stage / "model" / "model.safetensors"
    before = (weights.read_bytes(), weights.stat().st_mtime_ns)
    (out / stage / "summary.json").unlink()
    (summary,) = run_stages(load_recipe(recipe_path), out, (stage,))
    assert summary["reused"] is True and summary["init"] == "student"
    assert (weights.read_bytes(), weights.stat().st_mtime_ns) == before
    assert json.loads((out / stage / "summary.json").read_text())["reused"] is True
