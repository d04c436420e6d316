"""The HTTP API's request and response bodies, with every bound the OpenAPI document shows.

Limits the operator sets (`GLORE_MAX_QUESTION_CHARS`, `GLORE_MAX_TOKENS`, ...) are not
bounds of these models: the routes enforce the configured values, so every message quotes
the limit in force, and `service.app` writes them into the OpenAPI document. This module
needs only pydantic: the client shares it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The upper bounds of the matching settings (`service.settings.Settings`); not field bounds.
QUESTION_CAP = 100_000
SOLUTION_CAP = 100_000
MAX_TOKENS_CAP = 4096

StrategyName = Literal[
    "glore",
    "greedy",
    "best_of_n",
    "global",
    "local",
    "local_orm",
    "multi_round",
    "glore_vote",
    "repair",
    "glore_repair",
]
"""`glore.engine.strategies.STRATEGIES` (a test keeps the two in step)."""
Reveal = Literal["location", "step", "full"]
Mode = Literal["always", "gated"]
Where = Literal["sorm", "checked"]
"""`glore.engine.config.WHERES`."""
RerankBy = Literal["orm", "checked"]
"""`glore.engine.config.RERANKS`."""
CheckStatus = Literal["ok", "wrong", "unchecked"]
"""`glore.formats.CHECKS`."""
STAGES: tuple[str, ...] = ("draft", "orm", "sorm", "global", "local", "repair", "final")
"""Server-sent events of a streamed solve, in the order they come (`error` may end one)."""


class _Strict(BaseModel):
    """Request bodies: no unknown fields, no coercion (`"stream": 0` is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SolveOptions(_Strict):
    """Per-request pipeline options; a missing or null field takes the server's default."""

    mode: Mode | None = Field(
        None,
        description="`always` refines every draft; `gated` keeps a draft the ORM trusts "
        "(server default: GLORE_MODE, always).",
    )
    tau_when: float | None = Field(
        None, ge=0, le=1, description="`gated`: keep a draft whose ORM score is at least this."
    )
    tau_where: float | None = Field(
        None, ge=0, le=1, description="The first step whose SORM value is below this is wrong."
    )
    rerank_margin: float | None = Field(
        None,
        ge=0,
        le=1,
        description="A refinement replaces the draft only when its ORM score beats the "
        "draft's by more than this (server default: GLORE_RERANK_MARGIN, else the store's "
        "margin chosen on validation).",
    )
    rerank_floor: float | None = Field(
        None,
        ge=0,
        le=1,
        description="A refinement replaces the draft only when its ORM score is also at least "
        "this (server default: GLORE_RERANK_FLOOR, else the store's floor chosen on "
        "validation; 0 is the paper's argmax).",
    )
    abstain_below: float | None = Field(
        None,
        ge=0,
        le=1,
        description="The result says `abstain` when the ORM scores the chosen answer below "
        "this (server default: GLORE_ABSTAIN_BELOW, else the store's threshold chosen on "
        "validation; 0 never abstains).",
    )
    where: Where | None = Field(
        None,
        description="`sorm` (the paper): the local refiner restarts at the SORM's first "
        "error. `checked`: at the earlier of that and the first step whose arithmetic an "
        "exact check finds wrong (default sorm).",
    )
    rerank: RerankBy | None = Field(
        None,
        description="`orm` (the paper): the ORM reranks every candidate. `checked`: "
        "candidates with wrong arithmetic in a step lose to those without; the ORM ranks "
        "within each (default orm).",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="New tokens per generated solution; at most GLORE_MAX_TOKENS (default 256).",
    )
    best_of: int | None = Field(None, ge=1, le=64, description="Samples for `best_of_n` (3).")
    temperature: float | None = Field(
        None, gt=0, le=2, description="Temperature of `best_of_n` samples (1.0)."
    )
    rounds: int | None = Field(None, ge=1, le=8, description="Rounds of `multi_round` (2).")
    seed: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Seed of sampled strategies (0)."
    )

    @model_validator(mode="before")
    @classmethod
    def _integral(cls, data: Any) -> Any:
        """JSON Schema counts 39.0 as an integer; so does the API (then the bounds apply)."""
        if not isinstance(data, dict):
            return data
        ints = ("max_tokens", "best_of", "rounds", "seed")
        return {
            k: int(v) if k in ints and isinstance(v, float) and v.is_integer() else v
            for k, v in data.items()
        }

    def engine_options(self) -> dict[str, Any]:
        """The options that were given, as `GLoRe.asolve` keywords."""
        return self.model_dump(exclude_none=True)


class SolveRequest(_Strict):
    question: str = Field(
        min_length=1,
        description="The question; at most GLORE_MAX_QUESTION_CHARS characters (default 2000).",
        examples=["Mia has 3 apples. Mia buys 4 more apples. How many apples does Mia have?"],
    )
    strategy: StrategyName = Field(
        "glore", description="`glore` is the paper's method; the others are its baselines."
    )
    options: SolveOptions = Field(default_factory=SolveOptions)
    stream: bool = Field(
        False,
        description="Answer with server-sent events, one per stage as it finishes: "
        + ", ".join(STAGES)
        + " (the last holds the whole result); `error` ends a failed stream.",
    )


class CritiqueRequest(_Strict):
    question: str = Field(
        min_length=1,
        description="The question; at most GLORE_MAX_QUESTION_CHARS characters (default 2000).",
    )
    solution: str = Field(
        min_length=1,
        description="The working to check, one step per line; at most "
        "GLORE_MAX_SOLUTION_CHARS characters (default 8000) and GLORE_MAX_SOLUTION_STEPS "
        "steps (default 64).",
    )
    reveal: Reveal = Field(
        "full",
        description="`location`: only where the first error is; `step`: plus a corrected "
        "step; `full`: plus the whole corrected solution.",
    )


class EquationCheckOut(BaseModel):
    text: str = Field(description="The equation as written (an annotation as <<a=b>>).")
    check: CheckStatus
    expected: str | None = Field(description="The correct value, when wrong.")
    reason: str | None = Field(description="Why it was not checked, when unchecked.")


class StepCheckOut(BaseModel):
    """The exact arithmetic check of one step (`glore.formats.checks`)."""

    check: CheckStatus = Field(
        description="`ok`: its arithmetic holds; `wrong`: an equation in it is wrong; "
        "`unchecked`: nothing in it could be checked."
    )
    expected: str | None = Field(description="The correct value of the first wrong equation.")
    equation: str | None = Field(description="The first wrong equation as written.")
    reason: str | None = Field(description="Why nothing was checked, when unchecked.")
    warnings: list[str] = Field(
        description="E.g. `unsupported quantity 3`: an operand that is neither in the "
        "question nor an earlier step's result (a warning: it may be computed in the head)."
    )
    equations: list[EquationCheckOut]


class CandidateOut(BaseModel):
    name: str = Field(description="draft, global, local, sample-N, or with a -N round suffix.")
    text: str
    steps: list[str]
    answer: str | None = Field(description="The parsed final answer; null if none parsed.")
    orm_score: float | None = Field(description="The ORM's probability the answer is right.")
    sorm_values: list[float] | None = Field(description="The SORM's value of each step prefix.")
    orm_values: list[float] | None = Field(description="The ORM's value at every step.")
    first_error: int | None = Field(
        description="Where the local refiner would restart: the SORM's first error (with "
        "`where: checked`, the earlier of it and the first wrong arithmetic); when nothing "
        "is flagged, the least trusted step (see first_error_flagged)."
    )
    first_error_flagged: bool | None = Field(
        None,
        description="True when a SORM value below tau_where (or, checked, wrong arithmetic) "
        "flagged first_error; false when none did, so first_error is no error, only where an "
        "`always` refinement restarts.",
    )
    checks: list[StepCheckOut] | None = Field(description="The exact check of every step.")
    tokens: int = Field(ge=0)


class StageCostOut(BaseModel):
    seconds: float = Field(ge=0, description="Wall time of the batched stage.")
    tokens: int = Field(ge=0, description="Tokens generated for this question.")


class SolveResponse(BaseModel):
    question: str
    strategy: str
    answer: str | None = Field(description="The winner's final answer.")
    winner: str = Field(description="Name of the candidate the ORM picked.")
    reason: str
    candidates: list[CandidateOut]
    refined: bool = Field(description="Whether refinements were made.")
    degraded: bool = Field(description="A refiner failed; the draft stands.")
    degraded_reason: str | None
    abstain: bool = Field(
        False,
        description="The models are unsure: the ORM scores the chosen answer below the "
        "abstention threshold, so it should not be presented as a confident answer.",
    )
    abstain_reason: str | None = Field(None, description="Why, when `abstain` is true.")
    stages: dict[str, StageCostOut] = Field(description="Cost per stage: draft, orm, sorm, ...")
    models: dict[str, str] = Field(description="Version of the model behind each role.")


class CritiqueResponse(BaseModel):
    question: str
    steps: list[str]
    step_values: list[float] = Field(description="SORM value of every step prefix.")
    checks: list[StepCheckOut] = Field(description="The exact arithmetic check of every step.")
    first_error: int | None = Field(
        description="The first step whose arithmetic is wrong or whose SORM value is below "
        "tau_where; null if neither flags one."
    )
    source: Literal["arithmetic", "sorm"] | None = Field(
        description="Which signal flagged first_error: the exact check or the SORM."
    )
    first_error_text: str | None
    confidence: float | None = Field(description="1 - the first error's SORM value.")
    orm_confidence: float = Field(description="The ORM's probability the answer is right.")
    reveal: Reveal
    corrected_step: str | None
    corrected_solution: list[str] | None
    corrected_answer: str | None
    correction_check: StepCheckOut | None = Field(description="The exact check of corrected_step.")
    correction_verified: bool | None = Field(
        description="For an arithmetic slip: whether corrected_step's own arithmetic checks "
        "ok; false means the correction is offered unverified (see correction_note)."
    )
    correction_note: str | None
    correction_by: Literal["repair", "local_refiner"] | None = Field(
        description="Who wrote the correction: `repair` (an arithmetic slip's result "
        "replaced by the correct value, the rest continued by the student) or the "
        "`local_refiner`."
    )


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where in the request: e.g. [body, question].")
    msg: str
    type: str
    allowed: str | None = Field(None, description="What the field accepts.")


class Check(BaseModel):
    name: str = Field(description="models, redis, or backend:<url>.")
    ok: bool
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error response has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(None, description="Each invalid field (422).")
    checks: list[Check] | None = Field(None, description="Each readiness check (503).")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: list[Check]
