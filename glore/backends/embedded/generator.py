"""Embedded generation: a Hugging Face causal LM in this process (CPU or GPU).

Every call, async or blocking, goes to the model's one continuous-batching scheduler
(`glore.backends.embedded.scheduler`): its rows join the running decode as soon as there
is room and leave it as soon as they end, so no row waits for a batch's slowest.

Determinism: with a seed, each sample of a prompt draws its own random numbers, keyed by
(seed, prompt text, sample index) — not by the prompt's place in the call, nor by the
rows it shares the decode with. `generate_sync` on the same prompts and parameters gives
the same output every time; so does a call with nothing running beside it. A call that
shares the decode with others computes the same math in a different batch, which can
move a logit in its last bits: only where that flips a greedy tie or an inverse-CDF draw
right at a boundary can a token differ.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from glore.backends.base import Completion, SamplingParams, cut_at_stop
from glore.backends.embedded.model import LocalModel
from glore.backends.embedded.scheduler import Scheduler


def kv_bytes_per_position(model: Any) -> int:
    """Bytes of keys and values that one token position takes over all layers."""
    cfg = model.config
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    size = int(next(model.parameters()).element_size())
    return 2 * int(cfg.num_hidden_layers) * int(heads) * int(head_dim) * size


class EmbeddedGenerator(LocalModel):
    """A `Generator` over a local causal LM: at most `max_batch_size` rows decode at once,
    holding at most `max_kv_mb` of keys and values (rows x the longest row's prompt and
    `max_tokens`); `max_wait_ms` is unused here (nothing waits for company)."""

    auto_class = "AutoModelForCausalLM"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        max_kv_mb: float = 256.0,
    ) -> None:
        super().__init__(model, tokenizer, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)
        kv_tokens = int(max_kv_mb * 2**20 // kv_bytes_per_position(self.model))
        self.scheduler = Scheduler(
            self.model,
            eos_id=tokenizer.eos_token_id,
            context=self.model.config.max_position_embeddings,
            max_rows=max_batch_size,
            max_kv_tokens=max(1, kv_tokens),
        )
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer is not safe across threads

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        future = self._submit(prompts, params)
        try:
            rows = await asyncio.wrap_future(future)
        finally:
            future.cancel()  # a caller that left takes its rows out of the decode
        return self._completions(rows, params)

    def generate_sync(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        """The blocking form of `generate`, for scripts and training stages (not for work
        already on the compute lane, which it would wait for forever)."""
        self.scheduler.lane.wait_off_lane("generate_sync")
        future = self._submit(prompts, params)
        try:
            return self._completions(future.result(), params)
        finally:
            future.cancel()

    def _submit(self, prompts: Sequence[str], params: SamplingParams) -> Any:
        texts = list(prompts)
        with self._tokenizer_lock:
            ids = [self.tokenizer(t)["input_ids"] for t in texts] if texts else []
        return self.scheduler.submit(ids, texts, params)

    def _completions(self, rows: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        with self._tokenizer_lock:
            done = [self._completion(ids, params) for ids in rows]
        return [done[i : i + params.n] for i in range(0, len(done), params.n)]

    def _completion(self, ids: list[int], params: SamplingParams) -> Completion:
        eos = self.tokenizer.eos_token_id
        finish = "length"
        if eos in ids:
            ids, finish = ids[: ids.index(eos)], "stop"
        text, stopped = cut_at_stop(
            self.tokenizer.decode(ids, skip_special_tokens=True), params.stop
        )
        return Completion(text, len(ids), "stop" if stopped else finish)  # type: ignore[arg-type]
