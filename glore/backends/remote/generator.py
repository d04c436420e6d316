"""`RemoteGenerator`: `/v1/completions` of a vLLM (or OpenAI-compatible) server."""

from __future__ import annotations

import math
from collections.abc import Sequence

import httpx

from glore.backends.base import Completion, FinishReason, SamplingParams
from glore.backends.remote.http import RemoteBackend, chunks, gather_all
from glore.backends.remote.vllm_contract import (
    COMPLETIONS_PATH,
    Choice,
    ContractError,
    completion_request,
    parse_completion,
)
from glore.errors import BackendError, InvalidInputError


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
            for chunk in chunks(indices, self.max_prompts_per_request)
        ]
        results = await gather_all(
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
