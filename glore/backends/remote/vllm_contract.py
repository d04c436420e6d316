"""The request and response shapes of a vLLM server, as `glore.backends.remote` uses them.

Shapes are those of vLLM 0.26 (docs `stable` = v0.26.0; code read on `main`, 2026):

* Completions, `POST /v1/completions` (OpenAI-compatible):
  https://docs.vllm.ai/en/stable/serving/openai_compatible_server/ (Completions API and its
  extra parameters). Request: `model`, `prompt` (str or list[str]), `n`, `temperature`,
  `top_p`, `max_tokens`, `stop` (list[str]), `seed`, and the vLLM extra `return_token_ids`
  (vLLM >= 0.10.2, PR #22587), which adds each choice's generated `token_ids`. Response:
  `choices: [{index, text, finish_reason ("stop" | "length" | "abort"), token_ids?}]`,
  `usage: {prompt_tokens, completion_tokens, total_tokens}`. With a list of prompts, vLLM's
  `serving_completion.py` appends choices prompt by prompt with `index=len(choices)`, so
  the choices of prompt i are indices `i*n .. i*n+n-1`; `usage.completion_tokens` is the
  total over all choices.
* LoRA adapters: https://docs.vllm.ai/en/stable/features/lora/ (read at
  https://docs.vllm.ai/en/v0.8.5/features/lora.html). `vllm serve BASE --enable-lora
  --lora-modules NAME=PATH`; a request picks the adapter by `model: NAME`.
* Errors: vLLM's `ErrorResponse` is `{"error": {"message", "type", "param", "code"}}`
  (older releases sent the flat `{"object": "error", "message", "type", "param", "code"}`;
  both are read). An unknown model or adapter gives HTTP 404 with
  `type: "NotFoundError"` and the message "The model `NAME` does not exist."; a request
  that fails validation gives HTTP 400 (`BadRequestError`).
* Models, `GET /v1/models` (OpenAI's list): `{"object": "list", "data": [{"id", "object":
  "model", ...}]}`; vLLM lists the served model (`--served-model-name`, else the model
  path) and each LoRA adapter of `--lora-modules` by its NAME (`parent`: the base model).
  llama.cpp's Python server (llama-cpp-python 0.3, `llama_cpp/server/app.py`) lists each
  model alias in the same shape, but answers a completion for any `model` name with its
  default model, so a wrong name is caught only by this list.
* Health, `GET /health`: vLLM answers 200 once the engine is up; llama.cpp's C++ server
  (`tools/server/README.md`) answers 200 when ready and 503 while loading;
  llama-cpp-python has no `/health` (FastAPI's 404).
* One prompt per request: llama-cpp-python's `/v1/completions` asserts
  `len(body.prompt) <= 1` for a list prompt; its route handler turns the bare
  `AssertionError` into HTTP 500 with `{"error": {"message": "", "type":
  "internal_server_error", ...}}`: a 500 with an empty message. It also ignores `n` (one
  choice per request).
* Limits: vLLM refuses a prompt list longer than `VLLM_MAX_COMPLETION_PROMPTS` (1,024 by
  default; `CompletionRequest.validate_prompt_list_length`, HTTP 400 "prompt list length N
  exceeds the maximum allowed count of M"), and `n > 1` under greedy sampling
  (temperature below `_SAMPLING_EPS` = 1e-5; `SamplingParams._verify_greedy_sampling`,
  HTTP 400 "n must be 1 when using greedy sampling, got N.").
* Cancelling: vLLM's routes are wrapped in `with_cancellation`
  (`vllm/entrypoints/utils.py`): when the client closes the connection the handler is
  cancelled and the engine request aborted, so an abandoned request stops generating.
* Pooling, `POST /pooling` on `vllm serve MODEL --runner pooling`:
  https://docs.vllm.ai/en/stable/models/pooling_models/ , the online example
  https://docs.vllm.ai/en/v0.18.1/examples/pooling/pooling/ and the token_classify example
  https://docs.vllm.ai/en/v0.14.0/examples/pooling/token_classify/ ; fields from
  `vllm/entrypoints/pooling/pooling/protocol.py` and `.../pooling/base/protocol.py`.
  Request: `model`, `input` (str | list[str] | list[int] | list[list[int]]), `task`
  (`"token_classify"`), `use_activation` (bool | None; None = the pooler's default).
  Response:
  `data: [{index, object: "pooling", data: [[label values] per token]}]`, `usage`.
  `task: "encode"` was removed in favour of `token_embed` / `token_classify`; the old
  per-request `softmax` / `activation` / `normalize` fields were replaced by
  `use_activation`.
* Activation for `token_classify`: the token classifier head applies `PoolerClassify`
  when `use_activation` is true (the default), which is sigmoid for fewer than 2 labels and
  softmax otherwise (`vllm/model_executor/layers/pool/activations.py`). So a 1-label ORM/SORM
  head returns probabilities by default and raw logits with `use_activation: false`.

* Prompt log-probabilities (the likelihood ORM), `POST /v1/completions` with the vLLM extra
  `prompt_logprobs` (docs: the Completions API's extra parameters, and `SamplingParams`:
  "Number of log probabilities to return per prompt token"); `prompt` may be token ids
  (list[int], or list[list[int]] for several prompts), used as given. Each choice then has
  `prompt_logprobs`, vLLM's `PromptLogprobs = list[dict[int, Logprob] | None]`
  (`vllm/logprobs.py`): one entry per prompt token, the first `null` (no token before it),
  each other a map from token id (a JSON string key) to `{"logprob", "rank",
  "decoded_token"}` that holds the prompt's own token beside the top k. `max_tokens` must be
  at least 1, so one token is generated and ignored.

Assumptions where the docs are silent: token-id input is used as given (no tokenization, no
special tokens added; `add_special_tokens` applies to text input only); a 1-label row may
come as `[v]` or as a bare `v` (both are read); a server that ignores `use_activation` (one
older than the field) applies its own default, which for a 1-label classifier is sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

COMPLETIONS_PATH = "/v1/completions"
POOLING_PATH = "/pooling"
MODELS_PATH = "/v1/models"
HEALTH_PATH = "/health"
TOKEN_CLASSIFY = "token_classify"


class ContractError(ValueError):
    """A response body does not have the documented shape."""


@dataclass(frozen=True)
class Choice:
    """One choice of a completions response."""

    index: int
    text: str
    finish_reason: str | None
    token_count: int | None
    """`len(token_ids)` when the server returned them, else None."""


@dataclass(frozen=True)
class CompletionResponse:
    choices: list[Choice]
    """In the order the server listed them."""
    completion_tokens: int | None
    """`usage.completion_tokens`: generated tokens over all choices; None when absent."""


def completion_request(
    model: str,
    prompts: Sequence[str],
    *,
    n: int,
    temperature: float,
    top_p: float,
    max_tokens: int,
    stop: Sequence[str],
    seed: int | None,
    return_token_ids: bool,
) -> dict[str, Any]:
    """The JSON body of `POST /v1/completions` for a batch of prompts."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": list(prompts),
        "n": n,
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
    }
    if stop:
        body["stop"] = list(stop)
    if seed is not None:
        body["seed"] = seed
    if return_token_ids:
        body["return_token_ids"] = True
    return body


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{what} must be an integer, got {value!r}")
    return value


def parse_completion(body: Any) -> CompletionResponse:
    """Read a completions response; raises ContractError when its shape is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise ContractError("a completions response needs a `choices` list")
    choices: list[Choice] = []
    for raw in body["choices"]:
        if not isinstance(raw, dict):
            raise ContractError(f"a choice must be an object, got {raw!r}")
        text = raw.get("text")
        if not isinstance(text, str):
            raise ContractError(f"a choice needs a string `text`, got {text!r}")
        reason = raw.get("finish_reason")
        if reason is not None and not isinstance(reason, str):
            raise ContractError(f"`finish_reason` must be a string, got {reason!r}")
        ids = raw.get("token_ids")
        count = len(ids) if isinstance(ids, list) else None
        choices.append(Choice(_int(raw.get("index"), "choice `index`"), text, reason, count))
    usage = body.get("usage")
    used: int | None = None
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        used = _int(usage["completion_tokens"], "`usage.completion_tokens`")
    return CompletionResponse(choices, used)


def pooling_request(
    model: str, inputs: Sequence[Sequence[int]], *, use_activation: bool
) -> dict[str, Any]:
    """The JSON body of `POST /pooling` for per-token classification of token-id inputs."""
    return {
        "model": model,
        "input": [list(ids) for ids in inputs],
        "task": TOKEN_CLASSIFY,
        "use_activation": use_activation,
    }


def _label_value(row: Any) -> float:
    if isinstance(row, list):
        if len(row) != 1:
            raise ContractError(f"expected one label per token, got a row of {len(row)}")
        row = row[0]
    if isinstance(row, bool) or not isinstance(row, int | float):
        raise ContractError(f"a per-token value must be a number, got {row!r}")
    value = float(row)
    if not math.isfinite(value):
        raise ContractError(f"a per-token value is not finite: {value}")
    return value


def parse_pooling(body: Any, expected: int) -> list[list[float]]:
    """Read a `token_classify` pooling response: one value per token for each input, in
    input order (by `index`). Raises ContractError when the shape is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ContractError("a pooling response needs a `data` list")
    out: list[list[float] | None] = [None] * expected
    for item in body["data"]:
        if not isinstance(item, dict):
            raise ContractError(f"a pooling item must be an object, got {item!r}")
        index = _int(item.get("index"), "pooling item `index`")
        rows = item.get("data")
        if not 0 <= index < expected or out[index] is not None:
            raise ContractError(f"pooling item index {index} is out of range or repeated")
        if not isinstance(rows, list):
            raise ContractError("a pooling item needs a `data` list (encoding_format float)")
        out[index] = [_label_value(row) for row in rows]
    missing = [i for i, values in enumerate(out) if values is None]
    if missing:
        raise ContractError(f"the pooling response lacks inputs {missing}")
    return [values for values in out if values is not None]


def prompt_logprobs_request(model: str, inputs: Sequence[Sequence[int]]) -> dict[str, Any]:
    """The JSON body of `POST /v1/completions` asking each token-id prompt's own token
    log-probabilities (top 0 besides them), generating one token that is ignored."""
    return {
        "model": model,
        "prompt": [list(ids) for ids in inputs],
        "max_tokens": 1,
        "temperature": 0.0,
        "prompt_logprobs": 0,
    }


def _token_logprob(entry: Any, token: int) -> float:
    if not isinstance(entry, dict) or str(token) not in entry:
        raise ContractError(f"a prompt_logprobs entry lacks its prompt token {token}: {entry!r}")
    value = entry[str(token)]
    value = value.get("logprob") if isinstance(value, dict) else value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ContractError(f"a prompt token's logprob must be a number, got {value!r}")
    return float(value)


def parse_prompt_logprobs(body: Any, inputs: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each prompt's token log-probabilities, in input order (the first token's is 0: there
    is none before it). Raises ContractError when the shape is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        raise ContractError("a completions response needs a `choices` list")
    out: list[list[float] | None] = [None] * len(inputs)
    for raw in body["choices"]:
        index = _int(raw.get("index") if isinstance(raw, dict) else None, "choice `index`")
        if not 0 <= index < len(inputs) or out[index] is not None:
            raise ContractError(f"choice index {index} is out of range or repeated")
        entries, ids = raw.get("prompt_logprobs"), inputs[index]
        if not isinstance(entries, list) or len(entries) != len(ids):
            got = len(entries) if isinstance(entries, list) else entries
            raise ContractError(
                f"prompt {index} has {len(ids)} tokens but `prompt_logprobs` is {got!r}: "
                "a server without prompt_logprobs, or a truncated prompt?"
            )
        out[index] = [0.0] + [
            _token_logprob(e, t) for e, t in zip(entries[1:], ids[1:], strict=True)
        ]
    missing = [i for i, values in enumerate(out) if values is None]
    if missing:
        raise ContractError(f"the completions response lacks prompts {missing}")
    return [values for values in out if values is not None]


def parse_models(body: Any) -> list[str]:
    """The model ids of a `GET /v1/models` answer; raises ContractError when its shape is
    wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ContractError("a models list needs a `data` list")
    ids = [item.get("id") if isinstance(item, dict) else None for item in body["data"]]
    if not all(isinstance(i, str) for i in ids):
        raise ContractError("every entry of a models list needs a string `id`")
    return [i for i in ids if isinstance(i, str)]


def error_detail(body: Any) -> tuple[str, str | None]:
    """(message, type) of an error body: vLLM's nested or flat `ErrorResponse`, FastAPI's
    `{"detail": ...}`, or whatever text the body holds."""
    if isinstance(body, dict):
        inner = body.get("error")
        src = inner if isinstance(inner, dict) else body
        message = src.get("message")
        kind = src.get("type")
        if isinstance(message, str):
            return message, kind if isinstance(kind, str) else None
        if isinstance(inner, str):
            return inner, None
        if "detail" in body:
            return str(body["detail"]), None
    return str(body), None
