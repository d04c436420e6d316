"""The job routes: submit (202 + Location), status, results (pages or NDJSON), cancel.

Every error is problem+json, whatever app includes the router: its routes are
`ProblemRoute`s, which answer validation errors (422, in the gateway's `errors` shape),
unknown jobs (404), reused idempotency keys (409) and a missing or unreachable Redis (503)
through `service.errors`, as the gateway's handlers do. Without Redis only these routes
answer 503; the rest of the app is untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from redis.exceptions import RedisError

from service.deps import LoadedEngineDep, QueueDep, tenant
from service.errors import ProblemError, ProblemRoute
from service.jobs.protocol import NDJSON, JobAccepted, JobRequest, JobStatus, ResultsPage
from service.jobs.queue import IdempotencyConflictError, JobQueue, check_request
from service.jobs.store import JOB_ID, Record
from service.protocol import Problem

log = logging.getLogger("glore.jobs")

PAGE_DEFAULT = 100
PAGE_MAX = 1000
ID_FORMAT = "32 lowercase hex digits"
"""What `service.jobs.store.JOB_ID` accepts, as the messages say it."""


def _docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "The body is not readable JSON (not UTF-8, nested too deep, an integer too "
        "long); `errors` says what is allowed.",
        401: "No API key, or not a valid one (when GLORE_API_KEYS is set).",
        404: "No such job: unknown, or its records expired (GLORE_RESULT_TTL_S).",
        409: "The idempotency key was used for a job with other items or options.",
        413: "The request body is over GLORE_MAX_BODY_BYTES.",
        422: "A field is invalid or over a limit; `errors` lists each.",
        429: "Over GLORE_RATE_LIMIT_PER_MINUTE for this key, or over "
        "GLORE_AUTH_FAILURES_PER_MINUTE wrong keys from this address; see Retry-After.",
        503: "Redis is not configured (GLORE_REDIS_URL) or does not answer.",
    }
    return {s: {"model": Problem, "description": text[s]} for s in statuses}


router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=ProblemRoute)


async def _record(queue: JobQueue, job_id: str, request: Request) -> Record:
    """The job, if it exists and the caller submitted it; another tenant's job is a 404
    like a missing one, so job ids reveal nothing across API keys."""
    shown = job_id if len(job_id) <= 64 else job_id[:64] + "..."
    if not JOB_ID.match(job_id):
        raise ProblemError(
            404,
            "Job not found",
            f"no job {shown!r}: a job id is {ID_FORMAT}, as POST /v1/jobs returns it",
            kind="job-not-found",
            allowed=ID_FORMAT,
        )
    record = await queue.record(job_id)
    if record is None or record.tenant != tenant(request):
        raise ProblemError(
            404,
            "Job not found",
            f"no job {shown!r}: unknown, or its records expired",
            kind="job-not-found",
            allowed=ID_FORMAT,
        )
    return record


async def _status(queue: JobQueue, record: Record, request: Request) -> JobStatus:
    url = str(request.url_for("glore_job_results", job_id=record.job_id))
    return await queue.status(record, url)


@router.post(
    "",
    status_code=202,
    name="glore_submit_job",
    response_model=JobAccepted,
    summary="Queue a batch of questions; poll the job, then read its results.",
    responses=_docs(400, 401, 409, 413, 422, 429, 503),
)
async def submit_job(
    body: JobRequest,
    request: Request,
    queue: QueueDep,
    engine: LoadedEngineDep,
    idempotency_header: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Same as the body's `idempotency_key`.",
        ),
    ] = None,
) -> Response:
    """202 with the job's status and a `Location` header (the job's URL). With an
    idempotency key, a repeat returns the first job (`replayed: true`) and queues nothing.
    Keys are scoped to the API key that sent them: two tenants' "run-7" are two jobs."""
    errors = check_request(body, queue.settings, engine)
    key = body.idempotency_key or idempotency_header
    if body.idempotency_key and idempotency_header and body.idempotency_key != idempotency_header:
        errors.append(
            {
                "type": "value_error",
                "loc": ("header", "Idempotency-Key"),
                "msg": "the Idempotency-Key header and the body's idempotency_key differ",
                "ctx": {},
            }
        )
    if errors:
        raise RequestValidationError(errors)
    try:
        scoped = None if key is None else f"{tenant(request)}:{key}"
        job_id, replayed = await queue.submit(body, scoped, tenant(request))
    except IdempotencyConflictError as exc:
        raise ProblemError(
            409,
            "Idempotency key reused",
            f"the idempotency key was used for job {exc.job_id} with other items or options",
            kind="idempotency-key-reused",
            job_id=exc.job_id,
        ) from None
    record = await _record(queue, job_id, request)
    status = await _status(queue, record, request)
    accepted = JobAccepted(**status.model_dump(), replayed=replayed)
    location = str(request.url_for("glore_job_status", job_id=job_id))
    return JSONResponse(
        accepted.model_dump(mode="json"), status_code=202, headers={"Location": location}
    )


@router.get(
    "/{job_id}",
    name="glore_job_status",
    response_model=JobStatus,
    summary="A job's state, progress (done/total), timestamps and failed items.",
    responses=_docs(401, 404, 429, 503),
)
async def job_status(job_id: str, request: Request, queue: QueueDep) -> Response:
    status = await _status(queue, await _record(queue, job_id, request), request)
    return JSONResponse(status.model_dump(mode="json"))


@router.get(
    "/{job_id}/results",
    name="glore_job_results",
    response_model=ResultsPage,
    summary="The job's result lines by item index: a JSON page, or an NDJSON stream.",
    responses={
        200: {
            "description": "A page (application/json), or with `Accept: application/x-ndjson`"
            " or `format=ndjson` one `ResultLine` per line.",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        **_docs(401, 404, 422, 429, 503),
    },
)
async def job_results(
    job_id: str,
    *,
    request: Request,
    queue: QueueDep,
    offset: Annotated[int, Query(ge=0, description="First item index.")] = 0,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=1_000_000,
            description=f"Items covered: a page holds at most {PAGE_MAX} (default "
            f"{PAGE_DEFAULT}); a stream runs to the last item by default.",
        ),
    ] = None,
    format: Annotated[
        Literal["json", "ndjson"] | None,
        Query(description="ndjson streams; the default follows the Accept header."),
    ] = None,
) -> Response:
    """Items without a result yet (a running job) are left out; `next_offset` pages on."""
    record = await _record(queue, job_id, request)
    ndjson = format == "ndjson" or (format is None and NDJSON in request.headers.get("accept", ""))
    if ndjson:
        return StreamingResponse(_ndjson(queue, record, offset, limit), media_type=NDJSON)
    size = min(limit or PAGE_DEFAULT, PAGE_MAX)
    lines = await queue.page(record, offset, size)
    following = offset + size
    page = {
        "job_id": record.job_id,
        "state": record.state,
        "offset": offset,
        "limit": size,
        "total": record.total,
        "next_offset": following if following < record.total else None,
        "results": [json.loads(line) for line in lines],
    }
    return JSONResponse(page)


async def _ndjson(
    queue: JobQueue, record: Record, offset: int, limit: int | None
) -> AsyncIterator[str]:
    try:
        async for line in queue.stream(record, offset, limit):
            yield line + "\n"
    except RedisError as exc:  # the status line is sent: the stream just ends short
        log.warning("job %s: results stream cut: %s", record.job_id, exc)


@router.delete(
    "/{job_id}",
    name="glore_cancel_job",
    response_model=JobStatus,
    summary="Cancel a job: 202 while its worker stops, 200 when it is already over.",
    responses={
        202: {"model": JobStatus, "description": "Cancel asked; its worker stops soon."},
        **_docs(401, 404, 429, 503),
    },
)
async def cancel_job(job_id: str, request: Request, queue: QueueDep) -> Response:
    """A queued job is cancelled at once; a running one stops at its worker's next
    heartbeat (within 2 s, or a third of GLORE_JOB_HEARTBEAT_S when less), dropping the
    batch in flight (results written so far stay); a finished one is left as it is."""
    await _record(queue, job_id, request)  # 404 before anything changes
    outcome = await queue.cancel(job_id)
    status = await _status(queue, await _record(queue, job_id, request), request)
    code = 202 if outcome == "cancelling" else 200
    return JSONResponse(status.model_dump(mode="json"), status_code=code)
