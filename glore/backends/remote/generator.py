"""`RemoteGenerator`: `/v1/completions` of a vLLM (or OpenAI-compatible) server."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import httpx

from glore.backends.base import Completion, FinishReason, SamplingParams
from glore.backends.remote.http import (
    CONNECT_TIMEOUT_S,
    OnePromptPerRequestError,
    RemoteBackend,
    check_per_request,
    chunks,
    gather_all,
    one_prompt_only,
)
from glore.backends.remote.vllm_contract import (
    COMPLETIONS_PATH,
    Choice,
    ContractError,
    completion_request,
    parse_completion,
)
from glore.errors import BackendError, InvalidInputError

GREEDY_BELOW = 1e-5
"""A temperature below this is greedy decoding (vLLM's `_SAMPLING_EPS`), where vLLM refuses
`n > 1` ("n must be 1 when using greedy sampling", HTTP 400)."""

Plan = list[tuple[list[int], int, int | None]]
"""Requests to make: (prompt indices, n, seed) each."""


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


class RemoteGenerator(RemoteBackend):
    """A `Generator` over an OpenAI-compatible `/v1/completions` server (vLLM).

    Prompts go in requests of at most `max_prompts_per_request` prompts, sent concurrently
    (vLLM batches them internally, and refuses more than `VLLM_MAX_COMPLETION_PROMPTS`,
    1,024 by default, with HTTP 400). A server found to take one prompt per request (a 500
    with an empty message to a multi-prompt request, as llama.cpp's Python server answers)
    is remembered for the process, logged once, and sent one prompt per request. Greedy
    decoding (`temperature` below `GREEDY_BELOW`) with `n > 1` sends `n=1` and repeats the
    completion `n` times: greedy decoding gives the same completion each time, and vLLM
    refuses `n > 1` there.

    A server that returns fewer than `n` choices for some prompts (some OpenAI-compatible
    servers ignore `n`) is asked again for the rest, with `n=1` and each missing choice as its
    own prompt, for up to `max_topup_rounds` rounds; then `BackendError(retryable=False)` is
    raised. With a seed, the k-th top-up request uses `seed + k`, so the extra samples differ
    from each other and the output is still a function of (prompts, params, server
    behaviour). `Completion.tokens` comes from each choice's `token_ids` (asked for with
    vLLM's `return_token_ids`; set `return_token_ids=False` for a server that rejects unknown
    fields), else from `usage.completion_tokens` split as `_split_tokens` says.

    Options, each with its default and bound:

    * `timeout_s` (60; > 0): the longest wait for one request's answer. A completion is
      answered whole when it is done, so this counts the server's queue and the generation,
      not only the network; each retry gets its own.
    * `connect_timeout_s` (5; > 0, used as at most `timeout_s`): the longest wait to open a
      connection, so a dead address fails fast.
    * `deadline_s` (120; > 0): the longest one `generate` call takes, its retries, backoff
      and top-ups included; then `BackendError(retryable=True)`, and its unfinished requests
      are abandoned by closing their connections.
    * `max_retries` (3; >= 0), `backoff_s` (0.5; >= 0): see `glore.backends.remote`.
    * `max_prompts_per_request` (256; >= 1): prompts in one request.
    * `max_topup_rounds` (2; >= 0), `return_token_ids` (True): as above.
    * `max_connections` (32; >= 1): requests in flight at once.
    """

    _hint = "is base_url the server's root (without /v1)?"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float = 60.0,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        deadline_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_prompts_per_request: int = 256,
        max_topup_rounds: int = 2,
        return_token_ids: bool = True,
        max_connections: int = 32,
    ) -> None:
        super().__init__(
            base_url,
            model,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            deadline_s=deadline_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_connections=max_connections,
            client=client,
        )
        check_per_request("max_prompts_per_request", max_prompts_per_request)
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
        if params.n > 1 and params.temperature < GREEDY_BELOW:
            once = await self._within_deadline(self._generate(texts, replace(params, n=1)))
            return [per * params.n for per in once]
        return await self._within_deadline(self._generate(texts, params))

    async def _generate(self, texts: list[str], params: SamplingParams) -> list[list[Completion]]:
        got: list[list[Completion]] = [[] for _ in texts]
        plan: Plan = [(list(range(len(texts))), params.n, params.seed)]
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
        self, plan: Plan, texts: list[str], params: SamplingParams, got: list[list[Completion]]
    ) -> None:
        """Make the plan's requests concurrently and add their choices to `got`; again with
        one prompt per request if the server turns out to take no more."""
        try:
            jobs, results = await self._requests(plan, texts, params)
        except OnePromptPerRequestError:
            jobs, results = await self._requests(plan, texts, params)
        for (chunk, _, _), per_prompt in zip(jobs, results, strict=True):
            for i, completions in zip(chunk, per_prompt, strict=True):
                got[i].extend(completions[: params.n - len(got[i])])

    async def _requests(
        self, plan: Plan, texts: list[str], params: SamplingParams
    ) -> tuple[Plan, list[list[list[Completion]]]]:
        size = 1 if one_prompt_only(self.base_url) else self.max_prompts_per_request
        jobs = [(chunk, n, seed) for indices, n, seed in plan for chunk in chunks(indices, size)]
        results = await gather_all(
            [self._complete([texts[i] for i in chunk], n, seed, params) for chunk, n, seed in jobs]
        )
        return jobs, results

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
        raw = await self._post(COMPLETIONS_PATH, body, batch=len(prompts))
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
