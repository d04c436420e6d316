"""Embedded generation: a Hugging Face causal LM in this process (CPU or GPU).

Prompts are sorted by length and cut into batches of at most `max_batch_size` sequences,
left-padded, and decoded with the KV cache by `glore.backends.embedded.decode`. Sorting keeps
padding low; the order is a function of the prompts alone, so a seed gives the same output
every time.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from glore.backends.base import Completion, SamplingParams
from glore.backends.embedded.decode import decode
from glore.backends.embedded.model import LocalModel
from glore.errors import BackendError


class EmbeddedGenerator(LocalModel[str, list[Completion]]):
    """A `Generator` over a local causal LM.

    Concurrent `generate` calls with the same sampling parameters are merged by a
    micro-batcher (up to `max_batch_size` prompts, waiting at most `max_wait_ms` for
    company); one batch runs at a time. With a seed, outputs depend on the batch a call
    lands in; `generate_sync` on the same prompts is reproducible.
    """

    auto_class = "AutoModelForCausalLM"

    def run_batch(self, key: Hashable, prompts: list[str]) -> list[list[Completion]]:
        assert isinstance(key, SamplingParams)
        return self.generate_sync(prompts, key)

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        return await self.batcher.submit(params, list(prompts))

    def generate_sync(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        """The blocking form of `generate`, for scripts and training stages."""
        expanded = [p for p in prompts for _ in range(params.n)]
        order = sorted(range(len(expanded)), key=lambda j: (len(expanded[j]), j))
        results: list[Completion | None] = [None] * len(expanded)
        for chunk, start in enumerate(range(0, len(order), self.max_batch_size)):
            idx = order[start : start + self.max_batch_size]
            seed = None if params.seed is None else params.seed + chunk
            batch = self._batch([expanded[j] for j in idx], params, seed)
            for j, completion in zip(idx, batch, strict=True):
                results[j] = completion
        done = [c for c in results if c is not None]
        return [done[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    @torch.no_grad()
    def _batch(
        self, prompts: list[str], params: SamplingParams, seed: int | None
    ) -> list[Completion]:
        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left").to(
            self.model.device
        )
        room = self.model.config.max_position_embeddings - enc["input_ids"].shape[1]
        if room < 1:
            limit = self.model.config.max_position_embeddings
            raise BackendError(
                f"a prompt of {enc['input_ids'].shape[1]} tokens leaves no room to answer; "
                f"the model's context is {limit} tokens",
                retryable=False,
            )
        out = decode(
            self.model,
            enc["input_ids"],
            enc["attention_mask"],
            max_new_tokens=min(params.max_tokens, room),
            eos_id=tok.eos_token_id,
            pad_id=tok.pad_token_id,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=seed,
        )
        new = out.tolist()
        return [self._completion(ids, params) for ids in new]

    def _completion(self, ids: list[int], params: SamplingParams) -> Completion:
        eos = self.tokenizer.eos_token_id
        finish = "length"
        if eos in ids:
            ids, finish = ids[: ids.index(eos)], "stop"
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for stop in params.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return Completion(text, len(ids), finish)  # type: ignore[arg-type]
