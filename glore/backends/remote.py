"""Remote backends: a vLLM server for generation (`/v1/completions`) and step scoring
(`/pooling`, task `token_classify`).

The wire shapes, the vLLM version they come from (0.26) and the doc URLs are in
`glore.backends.vllm_contract`. Serving:

* generator: `vllm serve STUDENT` (or a refiner); a LoRA adapter is served with
  `vllm serve BASE --enable-lora --lora-modules NAME=PATH` and chosen with `model=NAME`;
* scorer: `vllm serve SORM --runner pooling` (a 1-label token-classification model).

Policy shared by both backends:

* One pooled `httpx.AsyncClient` per backend (or the caller's client, which the backend then
  never closes). In-flight requests are capped at `max_connections`; the cap is taken before
  a request's timeout starts, so queued requests never time out waiting for a connection.
  Calls may come from successive event loops (repeated `asyncio.run`): the owned client is
  rebuilt for each new loop, and the old loop's idle connections, which cannot be closed once
  that loop is gone, are left to the garbage collector; `async with` / `close()` inside one
  loop closes them cleanly. A caller's client must stay in the loop it was made in.
* Bounded retries: connection errors, timeouts, HTTP 5xx and HTTP 429 are retried up to
  `max_retries` times after `backoff_s * 2**k` seconds (k = 0, 1, ...; at most 8 s), then
  raise `BackendError(retryable=True)`. Other 4xx answers are not retried: a 404 naming the
  model raises `ModelNotFoundError` (model and base URL in the message); the rest raise
  `BackendError(retryable=False)` carrying the server's message. A 200 whose body is not the
  documented shape raises `BackendError(retryable=False)`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx

from glore.backends.base import Completion, FinishReason, SamplingParams
from glore.backends.vllm_contract import (
    COMPLETIONS_PATH,
    POOLING_PATH,
    Choice,
    ContractError,
    completion_request,
    error_detail,
    parse_completion,
    parse_pooling,
    pooling_request,
)
from glore.errors import BackendError, InvalidInputError, ModelNotFoundError
from glore.formats import Encoded, scorer_prompt, step_end_tokens

_MAX_BACKOFF_S = 8.0

_T = TypeVar("_T")

Activation = Literal["sigmoid", "none"]


class _RemoteBackend:
    """The HTTP client, retry policy and error mapping both remote backends share."""

    _hint = ""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        max_connections: int,
        client: httpx.AsyncClient | None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must start with http:// or https://: {base_url}")
        if not model:
            raise InvalidInputError("model must name the served model or LoRA adapter")
        if not timeout_s > 0:
            raise InvalidInputError(f"timeout_s must be positive, got {timeout_s}")
        if max_retries < 0:
            raise InvalidInputError(f"max_retries must be at least 0, got {max_retries}")
        if backoff_s < 0:
            raise InvalidInputError(f"backoff_s must be at least 0, got {backoff_s}")
        if max_connections < 1:
            raise InvalidInputError(f"max_connections must be at least 1, got {max_connections}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_connections = max_connections
        self._owns_client = client is None
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    def _bind(self) -> httpx.AsyncClient:
        """The client for the running event loop. Pooled connections belong to one loop, so
        an owned client is rebuilt when the backend is used from a new loop (successive
        `asyncio.run` calls); the old loop's client is dropped, its loop being gone."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._owns_client:
                self._client = httpx.AsyncClient(
                    timeout=httpx.Timeout(self.timeout_s),
                    limits=httpx.Limits(
                        max_connections=self.max_connections,
                        max_keepalive_connections=self.max_connections,
                    ),
                )
            self._slots = asyncio.Semaphore(self.max_connections)
            self._loop = loop
        assert self._client is not None
        return self._client

    async def close(self) -> None:
        """Close the HTTP client (unless the caller passed it in). Idempotent."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if self._owns_client and client is not None:
            if self._loop is asyncio.get_running_loop():
                await client.aclose()
            self._loop = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` as JSON and return the decoded answer, under the retry policy."""
        if self._closed:
            raise BackendError(f"the backend for {self.base_url} is closed", retryable=False)
        client = self._bind()
        url = self.base_url + path
        failure = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))
            try:
                async with self._slots:
                    response = await client.post(url, json=body, timeout=self.timeout_s)
            except httpx.TimeoutException as e:
                failure = f"no answer within {self.timeout_s:g} s ({type(e).__name__})"
                continue
            except httpx.TransportError as e:
                failure = f"connection failed ({type(e).__name__}: {e})"
                continue
            status = response.status_code
            if status >= 500 or status == 429:
                failure = f"HTTP {status}: {self._message(response)}"
                continue
            if status >= 400:
                raise self._client_error(response, url)
            try:
                return response.json()
            except ValueError:
                raise BackendError(
                    f"{url} answered HTTP {status} with a body that is not JSON", retryable=False
                ) from None
        attempts = self.max_retries + 1
        raise BackendError(
            f"POST {url} failed {attempts} time{'s' if attempts > 1 else ''}; last: {failure}",
            retryable=True,
        )

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_detail(body)[0]

    def _client_error(self, response: httpx.Response, url: str) -> Exception:
        status = response.status_code
        message = self._message(response)
        try:
            kind = error_detail(response.json())[1]
        except ValueError:
            kind = None
        if status == 404 and (kind == "NotFoundError" or "model" in message.lower()):
            return ModelNotFoundError(
                f"model {self.model!r} is not served at {self.base_url} ({message}); a LoRA "
                "adapter must be named in the server's --lora-modules"
            )
        if status == 404:
            return BackendError(
                f"{url} does not exist (HTTP 404: {message}); {self._hint}", retryable=False
            )
        return BackendError(
            f"{url} rejected the request (HTTP {status}): {message}", retryable=False
        )


async def _all(aws: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Await all concurrently; on the first failure cancel the rest, then raise it."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _chunks(items: list[int], size: int | None) -> list[list[int]]:
    if size is None or size >= len(items):
        return [items] if items else []
    return [items[i : i + size] for i in range(0, len(items), size)]


def _assign(choices: list[Choice], n_prompts: int, n: int) -> list[list[Choice]]:
    """Group a response's choices by prompt (position in the request).

    vLLM lists the choices of prompt i at indices i*n .. i*n+n-1. A server that returned
    fewer is taken to have ignored `n` when it returned at most one choice per prompt (then
    index i is prompt i); any other count cannot be attributed and is dropped, so those
    prompts are asked again. Choices are ordered by index; when the indices are out of range
    or repeated, a complete response is read in its listed order and a short one is dropped.
    """
    out: list[list[Choice]] = [[] for _ in range(n_prompts)]
    if n_prompts == 1:
        out[0] = sorted(choices, key=lambda c: c.index)[:n]
        return out
    if len(choices) == n_prompts * n:
        per = n
    elif len(choices) <= n_prompts:
        per = 1
    else:
        return out
    indices = [c.index for c in choices]
    if len(set(indices)) == len(indices) and all(0 <= i < n_prompts * per for i in indices):
        for c in sorted(choices, key=lambda c: c.index):
            out[c.index // per].append(c)
    elif len(choices) == n_prompts * per:
        for position, c in enumerate(choices):
            out[position // per].append(c)
    return out


def _split_tokens(choices: list[Choice], total: int | None, max_tokens: int) -> list[int]:
    """Generated tokens of each choice of one response.

    `len(token_ids)` when the server returned them. Otherwise `usage.completion_tokens` (the
    response's total) is split: a choice that finished on "length" used `max_tokens`; the
    remainder is shared by the other choices in proportion to their text length (largest
    remainder rounding, so the counts add up to the total). Without usage a choice counts
    `max_tokens` when it finished on "length" and 0 otherwise (unknown).
    """
    counts: list[int | None] = [c.token_count for c in choices]
    for i, c in enumerate(choices):
        if counts[i] is None and c.finish_reason == "length":
            counts[i] = max_tokens
    free = [i for i, count in enumerate(counts) if count is None]
    if not free:
        return [count or 0 for count in counts]
    if total is None:
        return [count or 0 for count in counts]
    rest = max(0, total - sum(count or 0 for count in counts))
    weights = [len(choices[i].text) for i in free]
    if sum(weights) == 0:
        weights = [1] * len(free)
    shares = [rest * w / sum(weights) for w in weights]
    floors = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(free)), key=lambda k: floors[k] - shares[k])
    for k in by_remainder[: rest - sum(floors)]:
        floors[k] += 1
    for k, i in enumerate(free):
        counts[i] = floors[k]
    return [count or 0 for count in counts]


def _finish(reason: str | None) -> FinishReason:
    if reason == "length":
        return "length"
    if reason == "abort":
        raise BackendError("the server aborted a completion", retryable=True)
    return "stop"


class RemoteGenerator(_RemoteBackend):
    """A `Generator` over an OpenAI-compatible `/v1/completions` server (vLLM).

    All prompts go in one request (vLLM batches internally), or in requests of at most
    `max_prompts_per_request` prompts sent concurrently. A server that returns fewer than
    `n` choices for some prompts (some OpenAI-compatible servers ignore `n`) is asked again
    for the rest, with `n=1` and each missing choice as its own prompt, for up to
    `max_topup_rounds` rounds; then `BackendError(retryable=False)` is raised. With a seed,
    the k-th top-up request uses `seed + k`, so the extra samples differ from each other and
    the output is still a function of (prompts, params, server behaviour). `Completion.tokens`
    comes from each choice's `token_ids` (asked for with vLLM's `return_token_ids`; set
    `return_token_ids=False` for a server that rejects unknown fields), else from
    `usage.completion_tokens` split as `_split_tokens` says.
    """

    _hint = "is base_url the server's root (without /v1)?"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_prompts_per_request: int | None = None,
        max_topup_rounds: int = 2,
        return_token_ids: bool = True,
        max_connections: int = 32,
    ) -> None:
        super().__init__(
            base_url,
            model,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_connections=max_connections,
            client=client,
        )
        if max_prompts_per_request is not None and max_prompts_per_request < 1:
            raise InvalidInputError(
                f"max_prompts_per_request must be at least 1, got {max_prompts_per_request}"
            )
        if max_topup_rounds < 0:
            raise InvalidInputError(f"max_topup_rounds must be at least 0, got {max_topup_rounds}")
        self.max_prompts_per_request = max_prompts_per_request
        self.max_topup_rounds = max_topup_rounds
        self.return_token_ids = return_token_ids

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        if isinstance(prompts, str):
            raise InvalidInputError("prompts must be a sequence of strings, not one string")
        texts = list(prompts)
        got: list[list[Completion]] = [[] for _ in texts]
        plan: list[tuple[list[int], int, int | None]] = [
            (list(range(len(texts))), params.n, params.seed)
        ]
        seed_offset = 0
        for _round in range(self.max_topup_rounds + 1):
            await self._run(plan, texts, params, got)
            need = {i: params.n - len(c) for i, c in enumerate(got) if len(c) < params.n}
            if not need:
                return got
            if params.seed is None:
                plan = [([i for i, k in need.items() for _ in range(k)], 1, None)]
            else:
                plan = []
                for layer in range(1, max(need.values()) + 1):
                    seed_offset += 1
                    layer_prompts = [i for i, k in need.items() if k >= layer]
                    plan.append((layer_prompts, 1, params.seed + seed_offset))
        short = {i: len(got[i]) for i in range(len(got)) if len(got[i]) < params.n}
        raise BackendError(
            f"{self.base_url} returned fewer than n={params.n} completions for "
            f"{len(short)} prompt(s) after {self.max_topup_rounds} top-up round(s) "
            f"(got per prompt index: {short})",
            retryable=False,
        )

    async def _run(
        self,
        plan: list[tuple[list[int], int, int | None]],
        texts: list[str],
        params: SamplingParams,
        got: list[list[Completion]],
    ) -> None:
        jobs = [
            (chunk, n, seed)
            for indices, n, seed in plan
            for chunk in _chunks(indices, self.max_prompts_per_request)
        ]
        results = await _all(
            [self._complete([texts[i] for i in chunk], n, seed, params) for chunk, n, seed in jobs]
        )
        for (chunk, _, _), per_prompt in zip(jobs, results, strict=True):
            for i, completions in zip(chunk, per_prompt, strict=True):
                got[i].extend(completions[: params.n - len(got[i])])

    async def _complete(
        self, prompts: list[str], n: int, seed: int | None, params: SamplingParams
    ) -> list[list[Completion]]:
        body = completion_request(
            self.model,
            prompts,
            n=n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=params.stop,
            seed=seed,
            return_token_ids=self.return_token_ids,
        )
        raw = await self._post(COMPLETIONS_PATH, body)
        try:
            response = parse_completion(raw)
        except ContractError as e:
            raise BackendError(f"{self.base_url}{COMPLETIONS_PATH}: {e}", retryable=False) from e
        tokens = _split_tokens(response.choices, response.completion_tokens, params.max_tokens)
        count = {id(c): t for c, t in zip(response.choices, tokens, strict=True)}
        return [
            [Completion(c.text, count[id(c)], _finish(c.finish_reason)) for c in group]
            for group in _assign(response.choices, len(prompts), n)
        ]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class RemoteScorer(_RemoteBackend):
    """A `StepScorer` over a vLLM pooling server (`/pooling`, task `token_classify`).

    Each (question, steps) is built with `scorer_prompt` and tokenized here with
    `step_end_tokens(tokenizer, ...)`; the token ids are sent as the input (vLLM then does
    not tokenize, nor add special tokens), so the step-end positions read from the per-token
    answer are exactly those the embedded scorer reads. The local tokenizer must therefore be
    the served model's own (load it from the same checkpoint directory).

    `activation`: "none" (default) asks the server to apply its activation
    (`use_activation: true`; sigmoid for a 1-label head, as documented) and takes the values
    as probabilities, raising `BackendError` if one falls outside [0, 1]; "sigmoid" asks for
    raw logits (`use_activation: false`) and applies the sigmoid here, for servers whose head
    returns logits.
    """

    _hint = "was the scorer started with `vllm serve MODEL --runner pooling`?"

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any,
        *,
        activation: Activation = "none",
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_items_per_request: int | None = None,
        max_connections: int = 32,
    ) -> None:
        super().__init__(
            base_url,
            model,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_connections=max_connections,
            client=client,
        )
        if activation not in ("sigmoid", "none"):
            raise InvalidInputError(f"activation must be 'sigmoid' or 'none', got {activation!r}")
        if max_items_per_request is not None and max_items_per_request < 1:
            raise InvalidInputError(
                f"max_items_per_request must be at least 1, got {max_items_per_request}"
            )
        self.tokenizer = tokenizer
        self.activation: Activation = activation
        self.max_items_per_request = max_items_per_request

    @classmethod
    def from_pretrained(
        cls, base_url: str, model: str, tokenizer_path: str | Path, **kwargs: Any
    ) -> RemoteScorer:
        """A scorer whose tokenizer is loaded from `tokenizer_path`, the served checkpoint."""
        from transformers import AutoTokenizer

        if not Path(tokenizer_path).is_dir():
            raise ModelNotFoundError(f"no tokenizer directory at {tokenizer_path}")
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
        return cls(base_url, model, tokenizer, **kwargs)

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        encoded: list[Encoded] = []
        for question, steps in items:
            if not steps:
                raise InvalidInputError("a solution to score needs at least one step")
            encoded.append(step_end_tokens(self.tokenizer, scorer_prompt(question, steps)))
        chunks = _chunks(list(range(len(encoded))), self.max_items_per_request)
        results = await _all([self._score([encoded[i] for i in chunk]) for chunk in chunks])
        out: list[list[float]] = [[] for _ in encoded]
        for chunk, probs in zip(chunks, results, strict=True):
            for i, p in zip(chunk, probs, strict=True):
                out[i] = p
        return out

    async def _score(self, batch: list[Encoded]) -> list[list[float]]:
        body = pooling_request(
            self.model, [e.input_ids for e in batch], use_activation=self.activation == "none"
        )
        raw = await self._post(POOLING_PATH, body)
        where = f"{self.base_url}{POOLING_PATH}"
        try:
            values = parse_pooling(raw, len(batch))
        except ContractError as e:
            raise BackendError(f"{where}: {e}", retryable=False) from e
        out: list[list[float]] = []
        for enc, per_token in zip(batch, values, strict=True):
            if len(per_token) != len(enc.input_ids):
                raise BackendError(
                    f"{where} returned {len(per_token)} values for {len(enc.input_ids)} tokens: "
                    "is the input truncated (max_model_len) or is another model served?",
                    retryable=False,
                )
            picked = [per_token[j] for j in enc.step_ends]
            if self.activation == "sigmoid":
                picked = [_sigmoid(v) for v in picked]
            elif any(not 0.0 <= v <= 1.0 for v in picked):
                raise BackendError(
                    f"{where} returned values outside [0, 1] ({min(picked)}..{max(picked)}): "
                    "the server returns logits; use activation='sigmoid'",
                    retryable=False,
                )
            out.append(picked)
        return out
