"""The ORM's within-question objective: pairs of one question, the final score of each row,
the Bradley-Terry term; and which cached samples an ORM variant learns from."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from glore.errors import ConfigError
from glore.labels.records import SampleRecord, StepLabels
from training.recipe import OrmSpec
from training.reward import PairCollator, final_logits, pair_examples, pairwise_loss
from training.sft import IGNORE
from training.stage_names import STAGES, missing_inputs
from training.stages.reward_models import orm_items
from training.variants import check_variant_recipe


@pytest.fixture(scope="module")
def tok() -> object:
    """A real tokenizer of the project's kind (`[BAD]` and a pad token), trained in a second."""
    from glore.modeling import train_tokenizer
    from glore.modeling.tokenizer import corpus_texts
    from glore.tasks.arith import ArithTask

    return train_tokenizer(corpus_texts(ArithTask().load("train", 50)), vocab_size=300)


def _items() -> list[StepLabels]:
    return [
        StepLabels("q1", "Q1?", ["1 + 1 = 2", "#### 2"], [1, 1]),
        StepLabels("q1", "Q1?", ["1 + 1 = 3", "#### 3"], [0, 0]),
        StepLabels("q1", "Q1?", ["1 + 2 = 3", "#### 3"], [0, 0]),
        StepLabels("q2", "Q2?", ["#### 5"], [0]),  # no right sample: no pair
    ]


def test_pairs_come_from_one_question_right_first(tok: object) -> None:
    pairs = pair_examples(tok, _items(), per_question=8, max_len=512, seed=0)
    assert len(pairs) == 2  # q1: one right x two wrong; q2 has no right sample
    for p in pairs:
        right, wrong = p["pair"]
        assert max(right["labels"]) == 1.0 and max(wrong["labels"]) == 0.0
    assert len(pair_examples(tok, _items(), per_question=1, max_len=512, seed=0)) == 1
    batch = PairCollator(tok.pad_token_id, torch.float)(pairs)  # type: ignore[attr-defined]
    assert batch["input_ids"].shape[0] == 4


def test_final_logits_read_the_last_labelled_position() -> None:
    labels = torch.tensor(
        [[IGNORE, 1.0, IGNORE, 1.0, IGNORE], [0.0, IGNORE, IGNORE, IGNORE, IGNORE]]
    )
    logits = torch.arange(10.0).reshape(2, 5)
    assert final_logits(logits, labels).tolist() == [3.0, 5.0]


def test_the_pairwise_term_rewards_right_above_wrong() -> None:
    labels = torch.tensor([[IGNORE, 1.0], [IGNORE, 0.0]])
    loss = pairwise_loss(1.0)
    good = loss(SimpleNamespace(logits=torch.tensor([[[0.0], [3.0]], [[0.0], [-3.0]]])), labels)
    bad = loss(SimpleNamespace(logits=torch.tensor([[[0.0], [-3.0]], [[0.0], [3.0]]])), labels)
    assert good < bad
    without = pairwise_loss(0.0)(
        SimpleNamespace(logits=torch.tensor([[[0.0], [-3.0]], [[0.0], [3.0]]])), labels
    )
    assert bad - without == pytest.approx(math.log1p(math.exp(6.0)))  # -log sigmoid(-6)


def test_an_orm_variant_can_learn_from_the_first_questions_only() -> None:
    samples = [SampleRecord(f"q{i % 3}", "Q", "1", i, ["#### 1"], True) for i in range(9)]
    assert len(orm_items(samples, OrmSpec())) == 9
    kept = orm_items(samples, OrmSpec(questions=2))
    assert {it.qid for it in kept} == {"q0", "q1"} and len(kept) == 6


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("questions", -1, "orm.questions"),
        ("pairwise", 11.0, "orm.pairwise"),
        ("pairs_per_question", 0, "orm.pairs_per_question"),
    ],
)
def test_orm_knobs_are_bounded(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OrmSpec(**{field: value}).check("orm")  # type: ignore[arg-type]


def test_a_variant_may_change_only_the_variant_sections() -> None:
    base = {"seed": 0, "sample": {"samples": 8}, "orm": {"steps": 1}, "export": {"name": "a"}}
    check_variant_recipe(base, {**base, "orm": {"steps": 9}, "export": {"name": "b"}, "threads": 1})
    with pytest.raises(ConfigError, match="also changes sample, seed"):
        check_variant_recipe(base, {**base, "seed": 1, "sample": {"samples": 16}})


def test_a_stage_waits_only_for_the_stages_it_reads() -> None:
    # Not the rollouts:
    assert missing_inputs(("orm",), set()) == ["tokenizer", "student", "verifier", "sample"]
    assert missing_inputs(("export",), set()) == [s for s in STAGES if s != "export"]


def test_a_complete_stage_stands_in_for_its_inputs() -> None:
    assert missing_inputs(("orm",), {"tokenizer", "verifier"}) == ["student", "sample"]
    # A run seeded with every model (`glore train seed`) and its samples: the ORM and the
    # export need no rollouts or refinement pairs, since the seeded SORM and refiners are
    # complete.
    seeded = {"tokenizer", "student", "verifier", "sample", "sorm", "global", "local"}
    assert missing_inputs(("orm", "export"), seeded) == []
    assert missing_inputs(("orm", "export"), seeded - {"sorm"}) == ["sorm-label", "sorm"]
    # A stage to run whose inputs run with it asks for nothing more.
    assert missing_inputs(STAGES, set()) == []
    assert missing_inputs(("export",), set(STAGES) - {"export"}) == []
