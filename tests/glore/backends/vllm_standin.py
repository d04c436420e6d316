"""A stand-in vLLM server for the remote-backend tests: real HTTP on a loopback port.

It implements `POST /v1/completions`, `POST /pooling`, `GET /v1/models` and `GET /health`
with the shapes and limits documented by vLLM 0.26 (see `glore.backends.remote.vllm_contract`),
written here independently of the client so the tests check the client against the
documented contract, not against itself.

Deterministic fake outputs:

* completion j of prompt `p` with seed `s` is the text `<p|s|j>`, generated one character
  (= one token) at a time: a stop string ends it once generated (its tokens are counted, its
  text is dropped: finish "stop"), `max_tokens` cuts it (finish "length"). Choices are
  listed prompt by prompt with `index = len(choices)`, as vLLM does.
* with `prompt_logprobs` (token-id prompts, as the likelihood ORM sends them), each choice
  has `prompt_logprobs`: `null` for the first token, then for token id x at position t
  `{"x": {"logprob": fake_logprob(x, t), "rank": 1, "decoded_token": "?"}}`; a token-id
  prompt's completion text is built from the ids' string as for a text prompt.
* the pooling "logit" of token t (its position in the input) is `t / 1000 + logit_offset`;
  with `use_activation` true or absent the sigmoid of it is returned (vLLM's default for a
  1-label head), else the raw value; each token's row is `[value]`.

Fault knobs (`Knobs`, reset with `StandinServer.reset()`): ignore `n`, answer 500 to the
next k requests, sleep before answering, list choices in reverse order, omit `token_ids`,
ignore `use_activation`, drop the last token's row, never return `prompt_logprobs`.
Unknown models get vLLM's 404 error JSON; bodies that fail validation get 400 with vLLM's
error JSON, as do (like vLLM) a prompt or input list longer than `max_prompts`
(`VLLM_MAX_COMPLETION_PROMPTS`, 1,024) and `n > 1` with a temperature below 1e-5 (greedy
sampling). A client that closes its connection while its request is delayed is counted in
`State.abandoned` (vLLM aborts such a request).
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict


@dataclass
class Knobs:
    ignore_n: bool = False
    """Answer one choice per prompt whatever `n` asks."""
    fail_next: int = 0
    """Answer HTTP 500 to this many requests, then serve normally."""
    delay_s: float = 0.0
    """Sleep this long before answering."""
    reverse_choices: bool = False
    """List choices in reverse order (indices stay right)."""
    token_ids: bool = True
    """Honour `return_token_ids`; False acts like a server without it."""
    ignore_activation: bool = False
    """Always return the raw pooling values."""
    logit_offset: float = 0.0
    drop_last_row: bool = False
    drop_prompt_logprobs: bool = False
    """Act like a server without `prompt_logprobs`: never return them."""
    max_model_len: int = 2048
    max_prompts: int = 1024
    """`VLLM_MAX_COMPLETION_PROMPTS`: the longest prompt (or pooling input) list."""


@dataclass
class State:
    models: set[str]
    knobs: Knobs = field(default_factory=Knobs)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    abandoned: int = 0
    """Requests whose client closed the connection while they were delayed."""


class CompletionBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]]
    prompt_logprobs: int | None = None
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: str | list[str] | None = None
    seed: int | None = None
    return_token_ids: bool = False


class PoolingBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: list[list[int]] | list[int] | list[str] | str
    task: str | None = None
    use_activation: bool | None = None


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status)


def fake_logprob(token: int, position: int) -> float:
    """The stand-in's log-probability of prompt token id `token` at `position`."""
    return -((token % 5) + 1) / 4 - position / 1000


def _prompt_logprobs(ids: list[int]) -> list[dict[str, Any] | None]:
    entries: list[dict[str, Any] | None] = [None]
    for t, x in enumerate(ids[1:], start=1):
        entries.append({str(x): {"logprob": fake_logprob(x, t), "rank": 1, "decoded_token": "?"}})
    return entries


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _complete(prompt: str, j: int, body: CompletionBody) -> tuple[str, int, str]:
    """(text, generated tokens, finish reason) of sample j: generation runs a character at a
    time over `<prompt|seed|j>`; a stop string ends it once fully generated (counted in the
    tokens, left out of the text, as vLLM does), else `max_tokens` does."""
    full = f"<{prompt}|{body.seed}|{j}>"
    stops = [body.stop] if isinstance(body.stop, str) else body.stop or []
    ends = [(full.index(s) + len(s), s) for s in stops if s in full]
    if ends:
        end, stop = min(ends)
        if end <= body.max_tokens:
            return full[: end - len(stop)], end, "stop"
    if len(full) > body.max_tokens:
        return full[: body.max_tokens], body.max_tokens, "length"
    return full, len(full), "stop"


def _too_many(state: State, count: int, param: str) -> JSONResponse | None:
    limit = state.knobs.max_prompts
    if count <= limit:
        return None
    message = (
        f"prompt list length {count} exceeds the maximum allowed count of {limit}. To "
        "increase this limit, set VLLM_MAX_COMPLETION_PROMPTS."
    )
    return _error(400, message, "BadRequestError", param)


def _completions(state: State, body: CompletionBody) -> JSONResponse:
    token_prompts = _token_inputs(body.prompt) if _token_ids(body.prompt) else None
    prompts: list[str] = (
        [str(ids) for ids in token_prompts]
        if token_prompts is not None
        else [body.prompt]
        if isinstance(body.prompt, str)
        else list(body.prompt)  # type: ignore[arg-type]
    )
    if body.n < 1:
        return _error(400, "n must be at least 1.", "BadRequestError", "n")
    if body.n > 1 and body.temperature < 1e-5:
        message = f"n must be 1 when using greedy sampling, got {body.n}."
        return _error(400, message, "BadRequestError", "n")
    too_many = _too_many(state, len(prompts), "prompt")
    if too_many is not None:
        return too_many
    for p in prompts:
        if len(p) + body.max_tokens > state.knobs.max_model_len:
            return _error(
                400,
                f"This model's maximum context length is {state.knobs.max_model_len} "
                f"tokens. However, you requested {len(p) + body.max_tokens} tokens.",
                "BadRequestError",
            )
    n = 1 if state.knobs.ignore_n else body.n
    choices: list[dict[str, Any]] = []
    total_used = 0
    for i, p in enumerate(prompts):
        for j in range(n):
            text, used, reason = _complete(p, j, body)
            choice: dict[str, Any] = {
                "index": len(choices),
                "text": text,
                "logprobs": None,
                "finish_reason": reason,
                "stop_reason": None,
            }
            if body.return_token_ids and state.knobs.token_ids:
                choice["token_ids"] = list(range(100, 100 + used))
            wants = body.prompt_logprobs is not None and not state.knobs.drop_prompt_logprobs
            if wants and token_prompts is not None:
                choice["prompt_logprobs"] = _prompt_logprobs(token_prompts[i])
            choices.append(choice)
            total_used += used
    prompt_tokens = sum(len(p) for p in prompts)
    if state.knobs.reverse_choices:
        choices.reverse()
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": total_used,
        "total_tokens": prompt_tokens + total_used,
    }
    return JSONResponse(
        {
            "id": "cmpl-standin",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": choices,
            "usage": usage,
        }
    )


def _token_ids(raw: object) -> bool:
    """Whether a prompt is token ids (one list of ints, or a list of them)."""
    return isinstance(raw, list) and bool(raw) and not isinstance(raw[0], str)


def _token_inputs(raw: list[list[int]] | list[int] | list[str] | str) -> list[list[int]]:
    if isinstance(raw, str):
        return [[ord(c) for c in raw]]
    inputs: list[list[int]] = []
    flat: list[int] = []
    for x in raw:
        if isinstance(x, int):
            flat.append(x)
        elif isinstance(x, str):
            inputs.append([ord(c) for c in x])
        else:
            inputs.append(list(x))
    return [flat] if flat else inputs


def _pooling(state: State, body: PoolingBody) -> JSONResponse:
    if body.task not in (None, "token_classify"):
        return _error(400, f"Unsupported task: {body.task!r}", "BadRequestError", "task")
    inputs = _token_inputs(body.input)
    too_many = _too_many(state, len(inputs), "input")
    if too_many is not None:
        return too_many
    activate = body.use_activation is not False and not state.knobs.ignore_activation
    data = []
    for index, ids in enumerate(inputs):
        values = [t / 1000 + state.knobs.logit_offset for t in range(len(ids))]
        if activate:
            values = [_sigmoid(v) for v in values]
        if state.knobs.drop_last_row:
            values = values[:-1]
        data.append({"index": index, "object": "pooling", "data": [[v] for v in values]})
    used = sum(len(ids) for ids in inputs)
    return JSONResponse(
        {
            "id": "pool-standin",
            "object": "list",
            "created": int(time.time()),
            "model": body.model,
            "data": data,
            "usage": {"prompt_tokens": used, "total_tokens": used, "completion_tokens": 0},
        }
    )


async def _delay(request: Request, seconds: float) -> bool:
    """Sleep `seconds`, watching the connection; False if the client left meanwhile."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(0.01, max(0.0, end - time.monotonic())))
    return True


def build_app(state: State) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, str(exc.errors()), "BadRequestError")

    async def _enter(
        request: Request, path: str, body: CompletionBody | PoolingBody
    ) -> JSONResponse | None:
        """Record the request, apply the delay and failure knobs, check the model."""
        state.requests.append((path, body.model_dump(exclude_unset=True)))
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if not await _delay(request, state.knobs.delay_s):
                state.abandoned += 1
                return _error(499, "client closed the connection", "Aborted")
        finally:
            state.in_flight -= 1
        if state.knobs.fail_next > 0:
            state.knobs.fail_next -= 1
            return _error(500, "stand-in failure", "InternalServerError")
        if body.model is not None and body.model not in state.models:
            message = f"The model `{body.model}` does not exist."
            return _error(404, message, "NotFoundError", "model")
        return None

    @app.post("/v1/completions")
    async def completions(request: Request, body: CompletionBody) -> JSONResponse:
        failed = await _enter(request, "/v1/completions", body)
        return failed if failed is not None else _completions(state, body)

    @app.post("/pooling")
    async def pooling(request: Request, body: PoolingBody) -> JSONResponse:
        failed = await _enter(request, "/pooling", body)
        return failed if failed is not None else _pooling(state, body)

    @app.get("/v1/models")
    async def models() -> JSONResponse:
        cards = [
            {"id": m, "object": "model", "created": 0, "owned_by": "vllm", "root": m}
            for m in sorted(state.models)
        ]
        return JSONResponse({"object": "list", "data": cards})

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    return app


class StandinServer:
    """The stand-in app served by uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, models: set[str] | None = None) -> None:
        self.state = State(models=models or {"student", "sorm", "student-lora"})
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build(self) -> FastAPI:
        return build_app(self.state)

    def reset(self) -> None:
        self.state.knobs = Knobs()
        self.state.requests.clear()
        self.state.max_in_flight = 0
        self.state.abandoned = 0

    def start(self) -> StandinServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.build(),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stand-in vLLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
