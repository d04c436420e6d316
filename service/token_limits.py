"""The question's length in tokens against the models' context, checked before any work.

A request is refused (422) when a prompt it will build cannot fit the context of the model
that reads it. The drafts are not known yet, so their room is held back: a draft is at most
`max_tokens` tokens, the global refiner reads the question and the draft, the local one the
question, the draft and the steps it keeps (at most the draft again), and the scorers the
question and a candidate (a local refinement: the kept steps and up to `max_tokens` new).
Each generator must have at least one token left to answer. Only models whose context and
tokenizer are local are checked (`glore.backends.embedded.context`); a remote server checks its own.
Later rounds of `multi_round` read longer drafts; a refinement that does not fit there
degrades the result to the draft, as any refiner failure does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError

from glore.backends.embedded.context import context_window
from glore.engine.glore import GLoRe
from glore.engine.strategies import PLANS
from glore.formats import (
    global_prompt,
    local_prompt,
    parse_solution,
    scorer_prompt,
    student_prompt,
)


def refiners(strategy: str) -> tuple[str, ...]:
    """The refining prompts a strategy builds, from the engine's own plans."""
    plan = PLANS.get(strategy, PLANS["glore"])
    if plan is None:
        return ()
    uses = (("global", plan.use_global), ("local", plan.use_local), ("repair", plan.use_repair))
    return tuple(name for name, used in uses if used)


@dataclass(frozen=True)
class _Need:
    """A prompt of the solve: who reads it, how it is built, what it holds besides."""

    role: str
    attr: str
    """The backend's attribute on `Models`."""
    build: Callable[[str], str]
    held: int
    """Tokens held back for what is not known yet."""
    what: str


def _student(q: str) -> str:
    return student_prompt(q).text


def _scored(q: str) -> str:
    return scorer_prompt(q, []).text


def _global(q: str) -> str:
    return global_prompt(q, []).text


def _local(q: str) -> str:
    return local_prompt(q, [""], 0).text  # with the [BAD] marker


def _needs(strategy: str, max_tokens: int) -> list[_Need]:
    used = refiners(strategy)
    scored = 2 * max_tokens if used else max_tokens
    solution = f"the solution scored (max_tokens={max_tokens} per generated part)"
    out = [
        _Need("student", "student", _student, 1, "the answer"),
        _Need("orm", "orm", _scored, scored, solution),
        _Need("sorm", "sorm", _scored, scored, solution),
    ]
    if "global" in used:
        what = f"a draft of up to max_tokens={max_tokens} and the answer"
        out.append(_Need("global", "global_refiner", _global, max_tokens + 1, what))
    if "local" in used:
        what = f"a draft of up to max_tokens={max_tokens}, the steps it keeps and the answer"
        out.append(_Need("local", "local_refiner", _local, 2 * max_tokens + 1, what))
    if "repair" in used:
        what = f"the draft's steps it keeps (up to max_tokens={max_tokens}) and the rest"
        out.append(_Need("repair", "student", _student, 2 * max_tokens + 1, what))
    return out


def token_errors(
    engine: GLoRe, questions: Sequence[str], strategy: str, max_tokens: int
) -> dict[int, dict[str, Any]]:
    """For each question (by index) that a prompt of its solve could not fit: the error in
    pydantic's shape, without its `loc`. One tokenizer call per model for all questions."""
    worst: dict[int, tuple[int, int, int, _Need, int, int]] = {}
    # per question: slack, limit, its tokens, the need, the context, the fixed text's tokens
    for need in _needs(strategy, max_tokens):
        window = context_window(getattr(engine.models, need.attr))
        if window is None:
            continue
        (template,) = window.count([need.build("")])
        limit = max(window.tokens - template - need.held, 0)
        counts = window.count([need.build(q) for q in questions])
        for i, used in enumerate(counts):
            asked = used - template
            if asked > limit and (i not in worst or limit - asked < worst[i][0]):
                worst[i] = (limit - asked, limit, asked, need, window.tokens, template)
    return {i: _error(*w[1:]) for i, w in worst.items()}


def _error(limit: int, asked: int, need: _Need, context: int, template: int) -> dict[str, Any]:
    return {
        "type": "too_many_tokens",
        "msg": f"the question is {asked} tokens; at most {limit} fit the {need.role} "
        f"model: its context is {context} tokens, of which {need.held} are held for "
        f"{need.what} and {template} are its prompt's fixed text",
        "ctx": {"limit": limit, "tokens": asked},
    }


def check_question_tokens(
    engine: GLoRe,
    question: str,
    strategy: str,
    max_tokens: int,
    loc: tuple[str | int, ...] = ("body", "question"),
) -> None:
    """Raise a 422 (`RequestValidationError`) when the question's solve would not fit."""
    errors = token_errors(engine, [question], strategy, max_tokens)
    if errors:
        raise RequestValidationError([{**errors[0], "loc": loc}])


def check_critique_tokens(engine: GLoRe, question: str, solution: str, reveal: str) -> None:
    """A critique's prompts are known whole: the scorers read the question and the
    solution; with `reveal` step or full, the local refiner reads them with the steps before
    the first error (at most all but the last) and must have a token left to answer."""
    steps = list(parse_solution(solution).steps)
    if not steps:
        return  # the engine's own check answers this one
    scored = scorer_prompt(question, steps).text
    needs = [("orm", "orm", scored, 0), ("sorm", "sorm", scored, 0)]
    if reveal != "location":
        local = local_prompt(question, steps, len(steps) - 1).text
        needs.append(("local", "local_refiner", local, 1))
    for role, attr, text, held in needs:
        window = context_window(getattr(engine.models, attr))
        if window is None:
            continue
        (used,) = window.count([text])
        if used + held > window.tokens:
            limit = window.tokens - held
            msg = (
                f"the question and solution are {used} tokens in the {role} model's prompt; "
                f"at most {limit} fit: its context is {window.tokens} tokens"
            )
            loc = ("body", "solution")
            kind = "too_many_tokens"
            raise RequestValidationError(
                [{"type": kind, "loc": loc, "msg": msg, "ctx": {"limit": limit, "tokens": used}}]
            )


__all__ = ["check_critique_tokens", "check_question_tokens", "refiners", "token_errors"]
