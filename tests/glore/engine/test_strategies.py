"""The pipeline's logic on hand-made scores: when, where, how, rerank, degradation."""

import asyncio
from collections.abc import Sequence

import pytest

from glore.backends.base import SamplingParams
from glore.engine.glore import GLoRe
from glore.engine.steps import Models
from glore.errors import InvalidInputError
from tests.glore.engine.scripted import FailingGenerator, ScriptedGenerator, ScriptedScorer

Q = (
    "Mia has 3 apples. Mia buys 4 more apples. Mia eats 2 apples. "
    "How many apples does Mia have now?"
)
GOOD1 = "Mia now has 3 + 4 = <<3+4=7>>7 apples."
BAD2 = "Mia now has 7 - 2 = <<7-2=4>>4 apples."
GOOD2 = "Mia now has 7 - 2 = <<7-2=5>>5 apples."
DRAFT = f"{GOOD1}\n{BAD2}\n#### 4"


def sorm(_: str, steps: Sequence[str]) -> list[float]:
    """High until a wrong step, then low: what a perfect SORM would say."""
    ok, out = True, []
    for s in steps:
        ok = ok and "=4>>" not in s and s != "#### 4" and "=9>>" not in s
        out.append(0.9 if ok else 0.1)
    return out


def orm(_: str, steps: Sequence[str]) -> list[float]:
    right = steps[-1] == "#### 5"
    return [0.8 if right else 0.3] * len(steps)


def models(global_text: str = f"{GOOD1}\n{BAD2}\n#### 4", local_text: str = f"{GOOD2}\n#### 5",
           local_gen: object = None) -> Models:  # fmt: skip
    student = ScriptedGenerator(lambda p: DRAFT)
    return Models(
        student, ScriptedScorer(orm), ScriptedScorer(sorm),
        ScriptedGenerator(lambda p: global_text),
        local_gen or ScriptedGenerator(lambda p: local_text),  # type: ignore[arg-type]
    )  # fmt: skip


def test_glore_refines_where_the_sorm_says_and_reranks() -> None:
    m = models()
    result = GLoRe(m).solve(Q)
    assert [c.name for c in result.candidates] == ["draft", "global", "local"]
    draft = result.candidate("draft")
    assert draft.first_error == 1 and draft.sorm_values == [0.9, 0.1, 0.1]
    assert draft.first_error_flagged is True
    local = result.candidate("local")
    assert local.steps[0] == GOOD1  # the good prefix is kept verbatim
    assert result.winner == "local" and result.answer == "5" and result.refined
    (prompt,) = m.local_refiner.prompts  # type: ignore[attr-defined]
    assert f"[BAD] {BAD2}" in prompt and prompt.endswith(f"Revised answer:\n{GOOD1}\n")
    assert set(result.stages) >= {"draft", "orm", "sorm", "global", "local"}
    assert result.stages["draft"].tokens == 5


def test_gated_mode_keeps_a_trusted_draft() -> None:
    def confident(_: str, steps: Sequence[str]) -> list[float]:
        return [0.95] * len(steps)

    m = models()
    m.orm = ScriptedScorer(confident)
    result = GLoRe(m).solve(Q, mode="gated", tau_when=0.9)
    assert [c.name for c in result.candidates] == ["draft"] and not result.refined
    assert GLoRe(m).solve(Q, mode="always").refined


def test_a_tie_keeps_the_draft() -> None:
    result = GLoRe(models(local_text=DRAFT)).solve(Q, strategy="local")
    assert result.winner == "draft"


def test_local_orm_uses_the_orms_steps_as_critique() -> None:
    m = models()
    result = GLoRe(m).solve(Q, strategy="local_orm")
    (prompt,) = m.local_refiner.prompts  # type: ignore[attr-defined]
    # Every ORM value is 0.3 < 0.5, so its first low step is the first step.
    assert f"[BAD] {GOOD1}" in prompt
    assert [c.name for c in result.candidates] == ["draft", "local"]


def test_refiner_failure_returns_the_draft_degraded() -> None:
    result = GLoRe(models(local_gen=FailingGenerator())).solve(Q)
    assert result.degraded and "refiner is down" in (result.degraded_reason or "")
    assert result.winner == "draft" and result.answer == "4"


class _Logged:
    """Wraps a scripted backend so the order of its calls lands in one shared log; a
    scorer yields to the event loop mid-call, as a real one does while its pass runs."""

    def __init__(self, inner: object, name: str, log: list[str]) -> None:
        self.inner, self.name, self.log = inner, name, log

    async def generate(self, prompts: Sequence[str], params: SamplingParams) -> object:
        self.log.append(self.name)
        return await self.inner.generate(prompts, params)  # type: ignore[attr-defined]

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> object:
        self.log.append(f"{self.name}-start")
        await asyncio.sleep(0.01)
        self.log.append(f"{self.name}-end")
        return await self.inner.score(items)  # type: ignore[attr-defined]


def _logged_models(log: list[str]) -> Models:
    m = models()
    m.orm = _Logged(m.orm, "orm", log)  # type: ignore[assignment]
    m.global_refiner = _Logged(m.global_refiner, "global", log)  # type: ignore[assignment]
    m.local_refiner = _Logged(m.local_refiner, "local", log)  # type: ignore[assignment]
    return m


def test_always_starts_the_global_refinement_while_the_draft_is_scored() -> None:
    log: list[str] = []
    overlapped = GLoRe(_logged_models(log)).solve(Q)
    # The global refiner needs no score in `always` mode, so it starts during the draft's
    # scoring; the local one waits for the SORM's first error.
    assert log.index("global") < log.index("orm-end")
    assert log.index("local") > log.index("orm-end")
    log.clear()
    staged = GLoRe(_logged_models(log)).solve(Q, overlap=False)
    assert log[:4] == ["orm-start", "orm-end", "global", "local"]
    assert staged.to_json() | {"stages": None} == overlapped.to_json() | {"stages": None}
    log.clear()
    GLoRe(_logged_models(log)).solve(Q, mode="gated")  # gated waits for the ORM's word
    assert log[:3] == ["orm-start", "orm-end", "global"]


def test_a_started_global_refinement_that_fails_degrades_like_any_refiner() -> None:
    m = models()
    m.global_refiner = FailingGenerator()
    result = GLoRe(m).solve(Q)
    assert result.degraded and "refiner is down" in (result.degraded_reason or "")
    assert result.winner == "draft" and [c.name for c in result.candidates] == ["draft"]


def test_draft_failure_raises() -> None:
    m = models()
    m.student = FailingGenerator()
    with pytest.raises(ConnectionError):
        GLoRe(m).solve(Q)


def test_multi_round_refines_while_the_orm_says_wrong() -> None:
    m = models(local_text=f"{BAD2}\n#### 9")
    result = GLoRe(m).solve(Q, strategy="multi_round", rounds=3)
    names = [c.name for c in result.candidates]
    assert names == ["draft", "global", "local", "global-2", "local-2", "global-3", "local-3"]
    one = GLoRe(models()).solve(Q, strategy="multi_round", rounds=3)
    assert [c.name for c in one.candidates] == ["draft", "global", "local"]  # ORM satisfied


def test_best_of_n_and_greedy() -> None:
    result = GLoRe(models()).solve(Q, strategy="best_of_n", best_of=3)
    assert [c.name for c in result.candidates] == ["sample-0", "sample-1", "sample-2"]
    greedy = GLoRe(models()).solve(Q, strategy="greedy")
    assert greedy.winner == "draft" and not greedy.refined and greedy.answer == "4"


def test_a_candidate_is_found_by_name_or_said_missing() -> None:
    greedy = GLoRe(models()).solve(Q, strategy="greedy")
    assert greedy.find("draft") is greedy.candidate("draft")
    assert greedy.find("global") is None
    with pytest.raises(KeyError, match=r"no candidate 'global'; this result has \['draft'\]"):
        greedy.candidate("global")


def test_refiners_decode_greedily_unless_a_temperature_is_set() -> None:
    m = models()
    GLoRe(m).solve(Q)
    GLoRe(m).solve(Q, local_temperature=0.7, seed=3)
    g_params = m.global_refiner.params  # type: ignore[attr-defined]
    l_params = m.local_refiner.params  # type: ignore[attr-defined]
    assert [(p.temperature, p.seed) for p in g_params] == [(0.0, None), (0.0, None)]
    assert [(p.temperature, p.seed) for p in l_params] == [(0.0, None), (0.7, 3)]


def test_batch_results_follow_question_order() -> None:
    qs = [Q, Q + " ", "Another question?"]
    results = GLoRe(models()).solve_batch(qs)
    assert [r.question for r in results] == qs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g: g.solve(""), "non-empty"),
        (lambda g: g.solve("x" * 3000), "at most 2000"),
        (lambda g: g.solve(Q, strategy="magic"), "unknown strategy 'magic'; strategies: greedy"),
        (lambda g: g.solve(Q, colour="red"), "unknown options \\['colour'\\]"),
        (lambda g: g.solve(Q, tau_where=2.0), "tau_where must be in \\[0, 1\\]"),
        (lambda g: g.solve(Q, best_of=0), "best_of must be in 1..64"),
        (lambda g: g.solve(Q, local_temperature=3.0), "local_temperature must be in \\[0, 2\\]"),
        (lambda g: g.solve_batch([]), "at least one"),
    ],
)
def test_bad_input_says_what_is_allowed(call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(GLoRe(models()))  # type: ignore[operator]


def test_result_serialises() -> None:
    import json

    data = GLoRe(models()).solve(Q).to_json()
    assert json.loads(json.dumps(data))["winner"] == "local"


def test_critique_finds_the_first_wrong_step_of_free_text() -> None:
    # The SORM's catch (no equation the exact check could read): the local refiner corrects.
    working = "First she has 3 + 4 = 7 apples\nthen she has 4 left =4>>"
    m = models(local_text="Mia now has 7 - 2 = <<7-2=5>>5 apples.\n#### 5")
    full = GLoRe(m).critique(Q, working, reveal="full")
    assert full.steps == ["First she has 3 + 4 = 7 apples", "then she has 4 left =4>>"]
    assert full.source == "sorm" and full.correction_by == "local_refiner"
    assert full.first_error == 1 and full.first_error_text == full.steps[1]
    assert full.confidence == pytest.approx(0.9)
    assert full.corrected_step == "Mia now has 7 - 2 = <<7-2=5>>5 apples."
    assert full.corrected_solution is not None and full.corrected_solution[0] == full.steps[0]
    assert full.corrected_answer == "5"
    step = GLoRe(m).critique(Q, working, reveal="step")
    assert step.corrected_step and step.corrected_solution is None and step.corrected_answer is None
    loc = GLoRe(m).critique(Q, working, reveal="location")
    assert loc.first_error == 1 and loc.corrected_step is None and loc.corrected_solution is None


def test_critique_of_right_working_flags_nothing() -> None:
    c = GLoRe(models()).critique(Q, f"{GOOD1}\n{GOOD2}")
    assert c.first_error is None and c.corrected_solution is None


@pytest.mark.parametrize(
    ("solution", "reveal", "message"),
    [("  \n ", "full", "no steps"), ("a", "answer", "reveal must be one of location, step, full")],
)
def test_critique_bad_input(solution: str, reveal: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        GLoRe(models()).critique(Q, solution, reveal=reveal)


def test_the_stores_margin_keeps_the_draft_and_an_option_overrides_it() -> None:
    # ORM: the local candidate 0.8 against the draft's 0.3, a gap of 0.5
    m = models()
    m.rerank_margin = 0.6
    kept = GLoRe(m).solve(Q)
    assert kept.winner == "draft" and "margin 0.60" in kept.reason
    assert [c.name for c in kept.candidates] == ["draft", "global", "local"]  # still refined
    assert GLoRe(m).solve(Q, rerank_margin=0.4).winner == "local"
    assert GLoRe(m).solve(Q, rerank_margin=0.0).winner == "local"
    m.rerank_margin = 0.4
    assert GLoRe(m).solve(Q).winner == "local"


def test_glore_vote_follows_agreement_then_the_orm() -> None:
    # global repeats the draft's answer 4, local says 5 with the higher ORM score
    agree = GLoRe(models()).solve(Q, strategy="glore_vote")
    assert agree.winner == "draft" and "2 of 3 candidates answer 4" in agree.reason
    # global and local both answer 5: agreement picks one of them
    both = GLoRe(models(global_text=f"{GOOD1}\n{GOOD2}\n#### 5")).solve(Q, strategy="glore_vote")
    assert both.answer == "5" and both.winner in ("global", "local")
    assert GLoRe(models()).solve(Q).winner == "local"  # glore itself is the pure ORM rerank


def test_rerank_margin_out_of_bounds_says_what_is_allowed() -> None:
    with pytest.raises(InvalidInputError, match="rerank_margin must be in \\[0, 1\\]"):
        GLoRe(models()).solve(Q, rerank_margin=1.5)


def test_best_of_n_ignores_the_margin_it_has_no_draft_to_protect() -> None:
    from glore.backends.base import Completion, SamplingParams

    class Alternating:
        async def generate(
            self, prompts: Sequence[str], params: SamplingParams
        ) -> list[list[Completion]]:
            texts = [DRAFT, f"{GOOD1}\n{GOOD2}\n#### 5"]
            return [[Completion(texts[k % 2], 5, "stop") for k in range(params.n)] for _ in prompts]

    m = models()
    m.student = Alternating()
    m.rerank_margin = 1.0
    result = GLoRe(m).solve(Q, strategy="best_of_n", best_of=2)
    assert result.winner == "sample-1" and result.answer == "5"


def test_a_restart_with_no_step_below_tau_where_is_not_flagged_as_an_error() -> None:
    """`always` refines a draft the SORM trusts from its least trusted step, and says that
    step was not flagged, so no caller shows it as the first wrong step."""

    def trusting(_: str, steps: Sequence[str]) -> list[float]:
        return [0.9, 0.7, 0.8][: len(steps)]

    m = models()
    m.sorm = ScriptedScorer(trusting)
    result = GLoRe(m).solve(Q, mode="always")
    draft = result.candidate("draft")
    assert (draft.first_error, draft.first_error_flagged) == (1, False)
    (prompt,) = m.local_refiner.prompts  # type: ignore[attr-defined]
    assert f"[BAD] {BAD2}" in prompt  # the local refiner still restarts there


def test_checked_where_flags_wrong_arithmetic_the_sorm_trusts() -> None:
    m = models()
    m.sorm = ScriptedScorer(lambda _, steps: [0.9] * len(steps))
    draft = GLoRe(m).solve(Q, mode="always", where="checked").candidate("draft")
    assert (draft.first_error, draft.first_error_flagged) == (1, True)
