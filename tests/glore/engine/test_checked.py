"""The exact step check beside the SORM: `where: checked`, `rerank: checked`, and the
critique's first error with its source. Scripted models give exact, hand-made scores."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from glore.engine.glore import GLoRe
from glore.engine.rules import checked_pool, flagged_error
from glore.engine.steps import Models
from glore.errors import InvalidInputError
from tests.glore.engine.scripted import ScriptedGenerator, ScriptedScorer
from tests.glore.engine.test_strategies import BAD2, GOOD1, GOOD2, Q

SLIP = "Mia now has 7 - 2 = <<7-2=4>>4 apples."  # arithmetic a calculator catches
DRAFT = f"{GOOD1}\n{SLIP}\n#### 4"


def blind(_: str, steps: Sequence[str]) -> list[float]:
    """A SORM that trusts every step: the slip is left to the exact check."""
    return [0.9] * len(steps)


def fooled(_: str, steps: Sequence[str]) -> list[float]:
    """An ORM that prefers the wrong answer 4: only the check tells the candidates apart."""
    return [0.9 if steps[-1] == "#### 4" else 0.6] * len(steps)


def scripted(local_text: str = f"{GOOD2}\n#### 5", global_text: str = DRAFT) -> Models:
    return Models(
        ScriptedGenerator(lambda p: DRAFT),
        ScriptedScorer(fooled),
        ScriptedScorer(blind),
        ScriptedGenerator(lambda p: global_text),
        ScriptedGenerator(lambda p: local_text),
    )


def test_flagged_error_takes_the_earlier_signal_and_says_which() -> None:
    assert flagged_error([0.9, 0.9, 0.9], 1, 0.5) == (1, "arithmetic")
    assert flagged_error([0.9, 0.2, 0.9], 2, 0.5) == (1, "sorm")
    assert flagged_error([0.9, 0.2, 0.9], 1, 0.5) == (1, "arithmetic")  # exact wins a tie
    assert flagged_error([0.9, 0.9], None, 0.5) is None


def test_checked_pool_keeps_the_passing_candidates_or_all() -> None:
    assert checked_pool([False, True, True]) == [1, 2]
    assert checked_pool([True, True]) == [0, 1]
    assert checked_pool([False, False]) == [0, 1]


def test_every_candidate_carries_its_step_checks() -> None:
    result = GLoRe(scripted()).solve(Q, strategy="greedy")
    (draft,) = result.candidates
    assert draft.checks is not None
    assert [c.check for c in draft.checks] == ["ok", "wrong", "unchecked"]
    assert draft.checks[1].expected == "5"
    assert result.to_json()["candidates"][0]["checks"][1]["check"] == "wrong"


def test_where_checked_restarts_the_local_refiner_at_the_slip() -> None:
    m = scripted()
    sorm_only = GLoRe(m).solve(Q, strategy="local")
    assert sorm_only.candidate("draft").first_error == 0  # blind SORM: its lowest step
    m = scripted()
    checked = GLoRe(m).solve(Q, strategy="local", where="checked")
    assert checked.candidate("draft").first_error == 1
    (prompt,) = m.local_refiner.prompts  # type: ignore[attr-defined]
    assert f"[BAD] {SLIP}" in prompt
    assert checked.candidate("local").steps[0] == GOOD1  # the right step is kept


def test_rerank_checked_drops_candidates_whose_arithmetic_fails() -> None:
    plain = GLoRe(scripted()).solve(Q, where="checked")
    assert plain.winner == "draft" and plain.answer == "4"  # the fooled ORM's pick
    checked = GLoRe(scripted()).solve(Q, where="checked", rerank="checked")
    assert checked.winner == "local" and checked.answer == "5"
    assert checked.reason.startswith("draft, global fail the arithmetic check")


def test_rerank_checked_changes_nothing_when_every_candidate_fails() -> None:
    m = scripted(local_text=f"{BAD2}\n#### 4")
    result = GLoRe(m).solve(Q, rerank="checked")
    assert result.winner == "draft"  # all fail: the ORM alone decides, margin and all


def test_best_of_n_with_rerank_checked_prefers_samples_that_check() -> None:
    samples = iter([DRAFT, f"{GOOD1}\n{GOOD2}\n#### 5"])
    m = scripted()
    m.student = ScriptedGenerator(lambda p: next(samples))
    result = GLoRe(m).solve(Q, strategy="best_of_n", best_of=2, rerank="checked")
    assert result.answer == "5"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"where": "orm"}, "where must be one of sorm, checked"),
        ({"rerank": "vote"}, "rerank must be one of orm, checked"),
    ],
)
def test_unknown_where_or_rerank_says_what_is_allowed(option: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        GLoRe(scripted()).solve(Q, **option)


def test_critique_flags_the_slip_the_sorm_misses_and_repairs_it_exactly() -> None:
    working = "First she has 3 + 4 = 7 apples\nthen 7 - 2 = 4 left\n#### 4"
    m = scripted(local_text=f"{SLIP}\n#### 4")  # the refiner would slip again
    m.student = ScriptedGenerator(lambda p: "#### 5")  # continues the repaired prefix
    c = GLoRe(m).critique(Q, working, reveal="full")
    assert c.first_error == 1 and c.source == "arithmetic"
    assert c.checks[1].check == "wrong" and c.checks[1].expected == "5"
    assert c.step_values == [0.9, 0.9, 0.9]  # both signals are kept per step
    assert c.correction_by == "repair" and c.corrected_step == "then 7 - 2 = 5 left"
    assert c.correction_check is not None and c.correction_check.check == "ok"
    assert c.correction_verified is True and c.correction_note is None
    assert c.corrected_solution == [
        "First she has 3 + 4 = 7 apples",
        "then 7 - 2 = 5 left",
        "#### 5",
    ]
    assert c.corrected_answer == "5"


def test_a_correction_that_fails_the_check_is_offered_unverified() -> None:
    # The slip is in the shown number, not the annotation: no exact repair, the refiner's
    # correction slips again, and the result says it could not be verified.
    working = "First she has 3 + 4 = 7 apples\nthen 7 - 2 = <<7-2=5>>4 left"
    c = GLoRe(scripted(local_text=f"{SLIP}\n#### 4")).critique(Q, working, reveal="full")
    assert c.source == "arithmetic" and c.correction_by == "local_refiner"
    assert c.correction_verified is False
    assert c.correction_note is not None and "could not be verified" in c.correction_note
    assert "should compute 5" in c.correction_note


def test_critique_source_is_the_sorm_when_it_flags_first() -> None:
    m = scripted()
    m.sorm = ScriptedScorer(lambda q, steps: [0.2] + [0.9] * (len(steps) - 1))
    c = GLoRe(m).critique(Q, "She has 3 + 5 = 8 apples\nthen 8 - 2 = 7", reveal="location")
    assert c.first_error == 0 and c.source == "sorm"
    assert [x.check for x in c.checks] == ["ok", "wrong"]
    assert c.correction_verified is None


def test_repair_fixes_the_slip_exactly_and_the_student_goes_on() -> None:
    m = scripted()
    prompts: list[str] = []

    def student(prompt: str) -> str:
        prompts.append(prompt)
        if prompt.endswith("<<7-2=5>>5 apples.\n"):  # continuing the repaired prefix
            return "#### 5"
        return DRAFT

    m.student = ScriptedGenerator(student)
    result = GLoRe(m).solve(Q, strategy="repair")
    assert [c.name for c in result.candidates] == ["draft", "repair"]
    repaired = result.candidate("repair")
    assert repaired.steps == [GOOD1, "Mia now has 7 - 2 = <<7-2=5>>5 apples.", "#### 5"]
    assert repaired.arithmetic_ok and result.winner == "repair" and result.answer == "5"
    assert "fail the arithmetic check" in result.reason  # the fooled ORM is overruled
    assert result.stages["repair"].tokens == 5


def test_repair_adds_nothing_when_the_arithmetic_holds() -> None:
    m = scripted()
    m.student = ScriptedGenerator(lambda p: f"{GOOD1}\n{GOOD2}\n#### 5")
    result = GLoRe(m).solve(Q, strategy="glore_repair")
    assert "repair" not in {c.name for c in result.candidates}


def test_an_answer_the_orm_doubts_is_marked_abstain() -> None:
    # The fooled ORM gives the draft's wrong answer 0.9 and the others 0.6.
    sure = GLoRe(scripted()).solve(Q, strategy="greedy", abstain_below=0.5)
    assert not sure.abstain and sure.abstain_reason is None
    unsure = GLoRe(scripted()).solve(Q, strategy="greedy", abstain_below=0.95)
    assert unsure.abstain and "below the abstention threshold 0.95" in (unsure.abstain_reason or "")
    assert unsure.to_json()["abstain"] is True
    default = GLoRe(scripted()).solve(Q, strategy="greedy")  # no store threshold: never
    assert not default.abstain
    with pytest.raises(InvalidInputError, match="abstain_below must be in"):
        GLoRe(scripted()).solve(Q, abstain_below=2.0)
