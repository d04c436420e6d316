"""Request and response bodies of the job routes (their bounds and descriptions are the
OpenAPI documentation), the job states and the results stream's media type: what the
server, the store and the client share."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.protocol import SolveOptions, StrategyName

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed", "cancelled")
TERMINAL: frozenset[JobState] = frozenset({"done", "failed", "cancelled"})
"""The states a job ends in."""
NDJSON = "application/x-ndjson"
"""The media type of the results stream: one `ResultLine` per line."""

# The upper bound of `GLORE_MAX_JOB_ITEMS`; not a field bound: the routes enforce the
# configured value (and GLORE_MAX_QUESTION_CHARS), so messages quote the limit in force.
ITEMS_CAP = 1_000_000


class JobItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Your id for the item, unique within the job (default: its index, as text).",
    )
    question: str = Field(
        min_length=1,
        description="The question; at most GLORE_MAX_QUESTION_CHARS (default 2000) characters.",
    )


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[JobItem] = Field(
        min_length=1,
        description="The questions; 1..GLORE_MAX_JOB_ITEMS (default 10000) items.",
    )
    strategy: StrategyName = Field(
        "glore", description="How every item is solved, as in /v1/solve."
    )
    options: SolveOptions = Field(
        default_factory=SolveOptions, description="Pipeline options, as in /v1/solve."
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Submitting again with the same key returns the first job instead of a new one "
            "(for GLORE_RESULT_TTL_S). May also come as the `Idempotency-Key` header."
        ),
    )


class JobProgress(BaseModel):
    done: int = Field(description="Items with a recorded result, ok or failed.")
    ok: int = Field(description="Items solved.")
    failed: int = Field(description="Items recorded failed after their retries.")
    total: int = Field(description="Items in the job.")


class ItemError(BaseModel):
    type: str = Field(description="The error's class, e.g. BackendError.")
    message: str
    retryable: bool = Field(description="Whether the same item might succeed if sent again.")


class FailedItem(BaseModel):
    index: int
    id: str
    error: ItemError
    attempts: int


class JobStatus(BaseModel):
    job_id: str = Field(description="32 hex digits.")
    state: JobState = Field(
        description="queued -> running -> done | failed | cancelled. `done` means every item "
        "has a result line, some of which may be failures."
    )
    progress: JobProgress
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    error: str | None = Field(None, description="Why the job failed, when it did.")
    errors: list[FailedItem] = Field(
        default_factory=list, description="The first 20 failed items (see the results for all)."
    )
    strategy: StrategyName
    options: SolveOptions
    attempts: int = Field(0, description="Times a worker took the job (more after a crash).")
    results_url: str


class JobAccepted(JobStatus):
    replayed: bool = Field(
        False, description="True when the idempotency key named an existing job."
    )


class ResultLine(BaseModel):
    """One item's outcome: one JSON object per line of the NDJSON stream."""

    index: int
    id: str
    status: Literal["ok", "failed"]
    attempts: int = Field(description="Tries of the item: 1 plus its retries.")
    result: dict[str, Any] | None = Field(None, description="`SolveResult.to_json()` when ok.")
    error: ItemError | None = None


class ResultsPage(BaseModel):
    job_id: str
    state: JobState
    offset: int
    limit: int
    total: int
    next_offset: int | None = Field(
        description="Where the next page starts; null after the last item."
    )
    results: list[ResultLine] = Field(
        description="Results of items [offset, offset+limit) that have one, by index."
    )
