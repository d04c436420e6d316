"""What `fit` says it trained on: every real token counted exactly (through a resume-free
run of one and of two epochs), the padded positions and the pad share; length-grouped
batches pad less on mixed lengths, for single rows and for the ORM's pairs; the new
recipe key leaves existing runs' digests alone."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.training.tiny_models import SIZES
from training.recipe import Recipe, TrainSpec, identity, load_recipe
from training.reward import PairCollator, pairwise_loss
from training.sft import PadCollator
from training.trainer import GroupedSampler, fit

VOCAB = 48


def _examples(lengths: list[int]) -> list[dict[str, Any]]:
    rng = random.Random(0)
    out = []
    for n in lengths:
        ids = [rng.randrange(2, VOCAB) for _ in range(n)]
        out.append({"input_ids": ids, "labels": ids})
    return out


def _mixed(count: int) -> list[int]:
    """Short and long examples interleaved, as a task with few- and many-step problems."""
    return [4 + i % 3 if i % 2 else 40 + i % 5 for i in range(count)]


def _lm() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, **SIZES))


def _fit(tmp_path: Path, examples: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    train = TrainSpec(**{"lr": 1e-3, "save_every": 1000, **spec})
    _, summary = fit(_lm(), examples, PadCollator(0), train, tmp_path / "run", seed=0)
    return summary


@pytest.mark.parametrize("epochs", [1, 2])
def test_fit_counts_every_real_token_it_trains_on(tmp_path: Path, epochs: int) -> None:
    examples = _examples([3, 9, 5, 12, 7, 4])
    summary = _fit(tmp_path, examples, steps=3 * epochs, batch_size=2)
    assert summary["tokens"] == epochs * sum(len(e["input_ids"]) for e in examples)
    assert summary["padded_tokens"] > summary["tokens"]  # the lengths differ in every pair
    assert summary["pad_share"] == round(1 - summary["tokens"] / summary["padded_tokens"], 4)
    rate = summary["tokens"] / summary["train_seconds"]
    assert summary["tokens_per_s"] == pytest.approx(rate, rel=0.01)  # both rounded


def test_length_grouped_batches_pad_less(tmp_path: Path) -> None:
    examples = _examples(_mixed(32))
    random_order = _fit(tmp_path / "a", examples, steps=8, batch_size=4)
    grouped = _fit(tmp_path / "b", examples, steps=8, batch_size=4, group_by_length=True)
    assert grouped["group_by_length"] and not random_order["group_by_length"]
    assert grouped["tokens"] == random_order["tokens"]  # one epoch each: the same examples
    assert grouped["pad_share"] < random_order["pad_share"]


def test_grouped_pairs_count_both_rows(tmp_path: Path) -> None:
    """The ORM's pairs have no `input_ids` of their own: grouping sorts them by their longer
    row (transformers' own sampler refuses them), and both rows are counted."""
    from transformers import LlamaConfig, LlamaForTokenClassification

    rows = _examples(_mixed(16))
    for row in rows:
        row["labels"] = [1.0] * len(row["input_ids"])
    pairs = [{"pair": [rows[i], rows[i + 1]]} for i in range(0, 16, 2)]
    torch.manual_seed(0)
    model = LlamaForTokenClassification(LlamaConfig(vocab_size=VOCAB, num_labels=1, **SIZES))
    spec = TrainSpec(steps=4, batch_size=2, save_every=1000, group_by_length=True)
    _, summary = fit(
        model,
        pairs,
        PairCollator(0, torch.float),
        spec,
        tmp_path / "run",
        seed=0,
        task_type="TOKEN_CLS",
        compute_loss_func=pairwise_loss(1.0),
    )
    assert summary["tokens"] == sum(len(r["input_ids"]) for r in rows)


def test_grouped_order_is_a_permutation_drawn_from_seed_and_epoch() -> None:
    lengths = _mixed(400)
    sampler = GroupedSampler(lengths, batch_size=4, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(400))
    assert list(GroupedSampler(lengths, batch_size=4, seed=3)) == first  # every process
    sampler.set_epoch(1)
    assert list(sampler) != first
    batches = [{lengths[i] >= 40 for i in first[k : k + 4]} for k in range(0, 400, 4)]
    # 4 mega-batches of 25 batches, each sorted by length: at most one mixed batch in each
    # (random batches of 4 would mix short and long about 7 times in 8).
    assert sum(len(kinds) == 2 for kinds in batches) <= 4


def test_group_by_length_at_its_default_keeps_the_digest(tmp_path: Path) -> None:
    recipe = Recipe().to_dict()
    assert recipe["student"]["train"]["group_by_length"] is False
    kept = identity(recipe)
    assert (
        "group_by_length" not in kept["orm"]
        and "group_by_length" not in kept["student"]["ei_train"]
    )
    assert recipe["orm"]["group_by_length"] is False  # the caller's dict is left whole
    path = tmp_path / "r.yaml"
    orm = "orm: {steps: 300, lr: 0.0005"  # the section's defaults, written out
    path.write_text(orm + "}\n")
    before = load_recipe(path).digest()
    path.write_text(orm + ", group_by_length: false}\n")
    assert load_recipe(path).digest() == before
    path.write_text(orm + ", group_by_length: true}\n")
    assert load_recipe(path).digest() != before
