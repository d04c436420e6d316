"""A stand-in for llama.cpp's Python server (llama-cpp-python 0.3, `python -m
llama_cpp.server`), the third-party `/v1/completions` the remote generator was probed
against (issue 15): real HTTP on a loopback port, beside the vLLM stand-in.

Its behaviour is written from that server's source (`llama_cpp/server/app.py`,
`errors.py`, `model.py`), not from the client:

* `POST /v1/completions` takes one prompt: a list of more than one trips
  `assert len(body.prompt) <= 1`, which its `RouteErrorHandler` answers as HTTP 500 with
  `{"error": {"message": "", "type": "internal_server_error", "param": null, "code":
  null}}` (an `AssertionError` has an empty message). A list of one is that prompt.
* `n` is dropped before the call (`exclude={"n", "best_of", ...}`): one choice, index 0.
  Unknown fields (`return_token_ids`) are ignored; no `token_ids` in the answer.
* Any `model` name is answered by the default model (`LlamaProxy.__call__` falls back to
  it); the answer's `model` is the model's path.
* `GET /v1/models` lists the model alias as `{"id", "object": "model", "owned_by": "me",
  "permissions": []}`; there is no `GET /health` (FastAPI's 404 `{"detail": "Not Found"}`).

Completion text, one character per token: greedy `[prompt]`; seeded `[prompt|seed]`;
unseeded `[prompt|~k]` with k counting unseeded requests (the model's RNG moves on).
`max_tokens` cuts it (finish "length"). Every exchange is recorded in `State.exchanges`
as (request body, status, response body).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def _vllm_standin() -> Any:
    name = "glore_tests_vllm_standin"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("vllm_standin.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


MODEL_PATH = "/models/student.Q8_0.gguf"


@dataclass
class State:
    alias: str = MODEL_PATH
    exchanges: list[tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=list)
    unseeded: int = 0


def _text(state: State, prompt: str, body: dict[str, Any]) -> tuple[str, str, int]:
    if float(body.get("temperature", 0.8)) == 0.0:
        full = f"[{prompt}]"
    elif body.get("seed") is not None:
        full = f"[{prompt}|{body['seed']}]"
    else:
        state.unseeded += 1
        full = f"[{prompt}|~{state.unseeded}]"
    max_tokens = int(body.get("max_tokens") or 16)
    if len(full) > max_tokens:
        return full[:max_tokens], "length", max_tokens
    return full, "stop", len(full)


def _complete(state: State, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) > 1:
            error = {"message": "", "type": "internal_server_error", "param": None, "code": None}
            return 500, {"error": error}
        prompt = prompt[0] if prompt else ""
    text, reason, used = _text(state, prompt, body)
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": reason}
    usage = {"prompt_tokens": len(prompt), "completion_tokens": used}
    usage["total_tokens"] = usage["prompt_tokens"] + used
    return 200, {
        "id": f"cmpl-{len(state.exchanges)}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": MODEL_PATH,
        "choices": [choice],
        "usage": usage,
    }


def build_app(state: State) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        status, answer = _complete(state, body)
        state.exchanges.append((body, status, answer))
        return JSONResponse(answer, status_code=status)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": state.alias, "object": "model", "owned_by": "me", "permissions": []}
        return {"object": "list", "data": [card]}

    return app


class LlamaCppServer(_vllm_standin().StandinServer):  # type: ignore[misc]
    """The stand-in served by uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, alias: str = MODEL_PATH) -> None:
        super().__init__()
        self.llama = State(alias=alias)

    def build(self) -> FastAPI:
        return build_app(self.llama)

    def reset(self) -> None:
        self.llama.exchanges.clear()
        self.llama.unseeded = 0
