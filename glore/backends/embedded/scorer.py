"""Embedded step scoring: an ORM or SORM read at every step end of a solution.

Solutions run in forward passes of at most `max_batch_tokens` padded tokens: on a CPU a
pass of about a thousand tokens keeps the activations in cache, where one pass over 64
solutions does not (`glore bench engine`, (c), compares the scorers with and without the
budget and the cache). With the prefix cache on (the default), a solution runs only the
tokens after the longest prefix already scored (see `glore.backends.embedded.prefix_cache`),
identical solutions in a call run once, and a question shared by several solutions of one
call (best-of-n samples, a round's refinements) runs once before them.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import torch

from glore.backends.embedded.batcher import MicroBatcher
from glore.backends.embedded.lane import LANE
from glore.backends.embedded.model import LocalModel
from glore.backends.embedded.prefix_cache import KV, Entry, PrefixCache
from glore.errors import ConfigError, InvalidInputError
from glore.formats import scorer_prompt, step_end_tokens


@dataclass(eq=False)
class _Row:
    ids: tuple[int, ...]
    ends: list[int]
    bounds: list[int]
    """Prefix lengths worth caching: the question's end, each step's end, the whole."""
    hit: Entry | None = None
    start: int = 0
    """Tokens taken from `hit`; the forward pass runs `ids[start:]`."""
    probs: torch.Tensor | None = None
    kinds: tuple[int, ...] = ()
    """Each token's `glore.formats.token_kind` (what the likelihood verifier reads)."""


class TokenValues:
    """Rows' token values by their token ids, for scorers that read one model
    (`EmbeddedScorer.sibling`): a likelihood ORM and SORM on one base run the same pass and
    differ only in their heads, so the second to score a solution reads the first's values
    instead of running it again. At most `max_tokens` values; the least recently used go."""

    def __init__(self, max_tokens: int = 1 << 18) -> None:
        self.max_tokens = max_tokens
        self.tokens = 0
        self._rows: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()

    def get(self, ids: tuple[int, ...]) -> torch.Tensor | None:
        found = self._rows.get(ids)
        if found is not None:
            self._rows.move_to_end(ids)
        return found

    def clear(self) -> None:
        self._rows.clear()
        self.tokens = 0

    def put(self, ids: tuple[int, ...], values: torch.Tensor) -> None:
        if ids in self._rows or len(ids) > self.max_tokens:
            return
        self._rows[ids] = values
        self.tokens += len(ids)
        while self.tokens > self.max_tokens:
            old, _ = self._rows.popitem(last=False)
            self.tokens -= len(old)


class EmbeddedScorer(LocalModel):
    """A `StepScorer` over a local token-classification model with one logit.

    `max_batch_tokens` (at least 1) bounds the padded tokens of one forward pass; by default
    1024 on a CPU (512 to 2048 ran alike on the default store, larger passes slower) and 8192 on an
    accelerator (not measured here). `prefix_cache_mb` (default 128, 0 turns it off) bounds
    the prefix cache."""

    auto_class = "AutoModelForTokenClassification"
    shift: ClassVar[int] = 0
    """How many positions a token's value lags the logits that give it: 0 for a classifier
    (its value at a token is read there), 1 for a causal LM (a token's log-probability is
    read one position earlier, so a cached prefix reruns its last token)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        max_batch_tokens: int | None = None,
        prefix_cache_mb: float = 128.0,
    ) -> None:
        super().__init__(model, tokenizer, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)
        self.batcher: MicroBatcher[tuple[str, Sequence[str]], list[float]] = MicroBatcher(
            self.run_batch, max_batch=max_batch_size, max_wait_s=max_wait_ms / 1000
        )
        if max_batch_tokens is None:
            max_batch_tokens = 1024 if self.model.device.type == "cpu" else 8192
        if max_batch_tokens < 1 or prefix_cache_mb < 0:
            raise ConfigError(
                f"max_batch_tokens must be >= 1 (got {max_batch_tokens}) and "
                f"prefix_cache_mb >= 0 (got {prefix_cache_mb})"
            )
        self.max_batch_tokens = max_batch_tokens
        self.cache = PrefixCache(int(prefix_cache_mb * 2**20))
        self._lock = threading.Lock()  # the cache and the model serve one call at a time
        self.shared: TokenValues | None = None
        """With a `sibling`, the token values the two share."""

    def replica(self, **options: Any) -> Self:
        """A scorer over the same model with other constructor options and its own cache."""
        return type(self)(self.model, self.tokenizer, **{**self.own_options(), **options})

    def own_options(self) -> dict[str, Any]:
        """What a subclass's constructor needs beside the model and tokenizer."""
        return {}

    def sibling(self, **options: Any) -> Self:
        """A scorer of the same class over the same model, batching as this one does, with
        `options` for its own constructor (a likelihood scorer's `head`). The two share
        the model's lock, prefix cache and token values: each item's pass runs once for
        both, since its values depend only on the model, and each reads them its own way."""
        twin = type(self)(
            self.model,
            self.tokenizer,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            max_batch_tokens=self.max_batch_tokens,
            **{**self.own_options(), **options},
        )
        if self.shared is None:
            self.shared = TokenValues()
        twin.cache, twin._lock, twin.shared = self.cache, self._lock, self.shared
        return twin

    def run_batch(self, key: Hashable, items: list[tuple[str, Sequence[str]]]) -> list[list[float]]:
        return self.score_sync(items)

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        return await self.batcher.submit(None, items)

    def score_sync(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """The blocking form of `score`."""
        return [self.readout(scored, row) for scored, row in self.scored(items)]

    def scored(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[_Row, _Row]]:
        """Each item's row, after the row of the same tokens that ran (or was cached); the
        passes run on the compute lane (inline when called there)."""
        return LANE.call(lambda: self._scored(items))

    def _scored(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[_Row, _Row]]:
        rows = [self._row(question, steps) for question, steps in items]
        unique: dict[tuple[int, ...], _Row] = {}
        for row in rows:
            unique.setdefault(row.ids, row)
        with self._lock:
            todo = [row for row in unique.values() if not self._known(row)]
            if self.cache.enabled:
                self._share_questions(todo)
                for row in todo:
                    row.hit, row.start = self.cache.find(row.ids, row.bounds)
                    if row.hit is not None and row.start < len(row.ids):
                        row.start -= self.shift
            self._run(todo)
            if self.shared is not None:
                for row in todo:
                    assert row.probs is not None
                    self.shared.put(row.ids, row.probs)
        return [(unique[row.ids], row) for row in rows]

    def _known(self, row: _Row) -> bool:
        """Whether a sibling already scored these tokens (then `row` holds their values)."""
        row.probs = None if self.shared is None else self.shared.get(row.ids)
        return row.probs is not None

    def readout(self, scored: _Row, row: _Row) -> list[float]:
        """`row`'s score at each step end, from the token values of the identical `scored`."""
        assert scored.probs is not None
        return scored.probs[row.ends].tolist()

    def values(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Each pass position's token value: here the probability of the one logit."""
        return torch.sigmoid(logits[..., 0].float()).cpu()  # one copy off an accelerator

    def _row(self, question: str, steps: Sequence[str]) -> _Row:
        if not steps:
            raise InvalidInputError("a solution to score needs at least one step")
        enc = step_end_tokens(self.tokenizer, scorer_prompt(question, steps))
        ids = tuple(enc.input_ids)
        bounds = [enc.step_starts[0], *(end + 1 for end in enc.step_ends), len(ids)]
        return _Row(ids, enc.step_ends, bounds, kinds=tuple(enc.kinds))

    def _share_questions(self, rows: list[_Row]) -> None:
        """Run each question that starts several rows and is not cached yet, once."""
        counts = Counter(row.ids[: row.bounds[0]] for row in rows)
        shared = [q for q, n in counts.items() if n > 1 and not self.cache.holds(q)]
        self._run([_Row(q, [], [len(q)]) for q in shared])

    def _run(self, rows: list[_Row]) -> None:
        """Fill `probs` of every row; rows run in passes of similar length within budget."""
        for row in rows:
            if row.hit is not None and row.start == len(row.ids):
                row.probs = row.hit.probs[: row.start]
        rest = sorted((r for r in rows if r.probs is None), key=lambda r: len(r.ids) - r.start)
        chunk: list[_Row] = []
        for row in rest:
            width = len(row.ids) - row.start  # the widest so far: `rest` is sorted
            if chunk and (
                (len(chunk) + 1) * width > self.max_batch_tokens
                or len(chunk) == self.max_batch_size
            ):
                self._forward(chunk)
                chunk = []
            chunk.append(row)
        if chunk:
            self._forward(chunk)

    @torch.no_grad()
    def _forward(self, rows: list[_Row]) -> None:
        from transformers import DynamicCache

        past = max(r.start for r in rows)
        width = max(len(r.ids) - r.start for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), past + width), dtype=torch.long)
        pos = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            new = len(r.ids) - r.start
            ids[i, :new] = torch.tensor(r.ids[r.start :])
            mask[i, past - r.start : past + new] = 1  # cached prefix is right-aligned
            pos[i, :new] = torch.arange(r.start, r.start + new)
        keep = self.cache.enabled
        cache: Any = None
        if past:
            cache = DynamicCache(ddp_cache_data=_stack(rows, past))
        elif keep:
            cache = DynamicCache()
        dev = self.model.device
        logits = self.model(
            input_ids=ids.to(dev),
            attention_mask=mask.to(dev),
            position_ids=pos.to(dev),
            cache=cache,
            use_cache=keep,
        ).logits
        probs = self.values(logits, ids)
        for i, r in enumerate(rows):
            fresh = probs[i, : len(r.ids) - r.start - self.shift]
            seen = r.start + self.shift
            known = torch.zeros(self.shift) if r.hit is None else r.hit.probs[:seen]
            row_probs = torch.cat([known, fresh])  # a copy, not a view of the batch
            r.probs = row_probs
            if keep:
                kv = _row_kv(cache, i, past - r.start, past + len(r.ids) - r.start)
                self.cache.add(Entry(r.ids, kv, row_probs), r.bounds)


def _row_kv(cache: Any, row: int, start: int, end: int) -> KV:
    """Row `row`'s keys and values at positions [start, end), copied out of the batch."""
    return [
        (layer.keys[row, :, start:end].clone(), layer.values[row, :, start:end].clone())
        for layer in cache.layers
    ]


def _stack(rows: list[_Row], past: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the cached keys and values of `rows`, right-aligned to `past` tokens
    (rows without a hit hold zeros there, masked out)."""
    ref: KV = next(r.hit.kv for r in rows if r.hit is not None)
    out = []
    for layer, (k0, v0) in enumerate(ref):
        keys = k0.new_zeros((len(rows), k0.shape[0], past, k0.shape[2]))
        values = v0.new_zeros((len(rows), v0.shape[0], past, v0.shape[2]))
        for i, r in enumerate(rows):
            if r.hit is not None and r.start:
                k, v = r.hit.kv[layer]
                keys[i, :, past - r.start :] = k[:, : r.start]
                values[i, :, past - r.start :] = v[:, : r.start]
        out.append((keys, values))
    return out
