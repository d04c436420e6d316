"""`RemoteScorer`: `/pooling` (task `token_classify`) of a vLLM pooling server, or, for a
likelihood verifier, the prompt log-probabilities of a vLLM generate server."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from glore.backends.likelihood_head import HEAD_FILE, LikelihoodHead, step_features
from glore.backends.remote.http import (
    CONNECT_TIMEOUT_S,
    Activation,
    OnePromptPerRequestError,
    RemoteBackend,
    check_per_request,
    chunks,
    gather_all,
    one_prompt_only,
)
from glore.backends.remote.vllm_contract import (
    COMPLETIONS_PATH,
    POOLING_PATH,
    ContractError,
    parse_pooling,
    parse_prompt_logprobs,
    pooling_request,
    prompt_logprobs_request,
)
from glore.errors import BackendError, InvalidInputError, ModelNotFoundError
from glore.formats import Encoded, scorer_prompt, step_end_tokens


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class RemoteScorer(RemoteBackend):
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

    Options, each with its default and bound: `timeout_s` (60; > 0), `connect_timeout_s`
    (5; > 0), `deadline_s` (120; > 0, one `score` call), `max_retries` (3; >= 0),
    `backoff_s` (0.5; >= 0), `max_connections` (32; >= 1), as `RemoteGenerator` says;
    `max_items_per_request` (256; >= 1): inputs in one `/pooling` request (vLLM bounds the
    list by `VLLM_MAX_COMPLETION_PROMPTS`, 1,024 by default).

    With `head` (a likelihood verifier, `glore.backends.likelihood_head`; `from_pretrained`
    reads it from the tokenizer folder when the checkpoint has one) the server is a plain
    `vllm serve MODEL` of the verifier's causal LM: each solution's token log-probabilities
    come from `/v1/completions` (`prompt_logprobs`), and each step's value is the head's
    probability of its prefix, as the embedded `LikelihoodScorer` computes it; `activation`
    is then unused.
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
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        deadline_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_items_per_request: int = 256,
        max_connections: int = 32,
        head: LikelihoodHead | None = None,
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
        if activation not in ("sigmoid", "none"):
            raise InvalidInputError(f"activation must be 'sigmoid' or 'none', got {activation!r}")
        check_per_request("max_items_per_request", max_items_per_request)
        self.tokenizer = tokenizer
        self.activation: Activation = activation
        self.max_items_per_request = max_items_per_request
        self.head = head

    @classmethod
    def from_pretrained(
        cls, base_url: str, model: str, tokenizer_path: str | Path, **kwargs: Any
    ) -> RemoteScorer:
        """A scorer whose tokenizer is loaded from `tokenizer_path`, the served checkpoint."""
        from transformers import AutoTokenizer

        if not Path(tokenizer_path).is_dir():
            raise ModelNotFoundError(f"no tokenizer directory at {tokenizer_path}")
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
        if (Path(tokenizer_path) / HEAD_FILE).is_file():
            kwargs.setdefault("head", LikelihoodHead.load(tokenizer_path))
        return cls(base_url, model, tokenizer, **kwargs)

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        encoded: list[Encoded] = []
        for question, steps in items:
            if not steps:
                raise InvalidInputError("a solution to score needs at least one step")
            encoded.append(step_end_tokens(self.tokenizer, scorer_prompt(question, steps)))
        return await self._within_deadline(self._score_all(encoded))

    async def _score_all(self, encoded: list[Encoded]) -> list[list[float]]:
        try:
            parts, results = await self._requests(encoded)
        except OnePromptPerRequestError:
            parts, results = await self._requests(encoded)
        out: list[list[float]] = [[] for _ in encoded]
        for chunk, probs in zip(parts, results, strict=True):
            for i, p in zip(chunk, probs, strict=True):
                out[i] = p
        return out

    async def _requests(
        self, encoded: list[Encoded]
    ) -> tuple[list[list[int]], list[list[list[float]]]]:
        size = 1 if one_prompt_only(self.base_url) else self.max_items_per_request
        parts = chunks(list(range(len(encoded))), size)
        results = await gather_all([self._score([encoded[i] for i in chunk]) for chunk in parts])
        return parts, results

    async def _score(self, batch: list[Encoded]) -> list[list[float]]:
        if self.head is not None:
            return await self._likelihood(batch, self.head)
        body = pooling_request(
            self.model, [e.input_ids for e in batch], use_activation=self.activation == "none"
        )
        raw = await self._post(POOLING_PATH, body, batch=len(batch))
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

    async def _likelihood(self, batch: list[Encoded], head: LikelihoodHead) -> list[list[float]]:
        inputs = [e.input_ids for e in batch]
        body = prompt_logprobs_request(self.model, inputs)
        raw = await self._post(COMPLETIONS_PATH, body, batch=len(batch))
        try:
            logps = parse_prompt_logprobs(raw, inputs)
        except ContractError as e:
            raise BackendError(f"{self.base_url}{COMPLETIONS_PATH}: {e}", retryable=False) from e
        out = []
        for enc, values in zip(batch, logps, strict=True):
            features = step_features(values, enc.step_starts[0], enc.step_ends, enc.kinds)
            out.append([head.probability(x) for x in features])
        return out
