"""A prefix cache for the embedded ORM and SORM: the key/value states and per-position
scores of solutions already scored, found again by their token prefix.

In a GLoRe round every candidate of a question starts with the same question, and a local
refinement starts with the steps of the draft it kept; the draft was scored a moment
earlier. The scorers are causal, so a shared prefix has the same states and scores in
every sequence: a hit leaves only the new tokens to run. This is vLLM's automatic prefix
caching at step granularity (a prefix is looked up where the question ends and where each
step ends), in a least-recently-used store bounded in bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from glore.errors import ConfigError

KV = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer, the keys and values of one sequence: `[heads, tokens, head_dim]` each."""


@dataclass(eq=False)
class Entry:
    """One scored sequence: its tokens, states and the score at every position."""

    ids: tuple[int, ...]
    kv: KV
    probs: torch.Tensor
    keys: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        tensors = [t for pair in self.kv for t in pair] + [self.probs]
        return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class CacheStats:
    """What the cache saved: tokens looked up, and how many of them were found."""

    tokens: int = 0
    hit_tokens: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hit_tokens / self.tokens if self.tokens else 0.0


class PrefixCache:
    """Cached sequences keyed by their prefixes that end at a boundary.

    `max_bytes` bounds the states held (0 turns the cache off); the least recently used
    sequences go first, and one larger than the whole budget is never stored."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ConfigError(
                f"a prefix cache's max_bytes must be >= 0 (0 turns it off), got {max_bytes}"
            )
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self.listeners: list[Callable[[int, int], None]] = []
        """Called with (tokens looked up, tokens found) after every lookup: a service's
        metrics hook."""
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._index: dict[tuple[int, ...], Entry] = {}
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, ids: Sequence[int], boundaries: Sequence[int]) -> tuple[Entry | None, int]:
        """The cached sequence sharing the longest boundary prefix with `ids`, and that
        prefix's length (`None, 0` on a miss)."""
        found: tuple[Entry | None, int] = (None, 0)
        for end in sorted(boundaries, reverse=True):
            entry = self._index.get(tuple(ids[:end])) if end > 0 else None
            if entry is not None:
                self._entries.move_to_end(id(entry))
                found = (entry, end)
                break
        self.stats.tokens += len(ids)
        self.stats.hit_tokens += found[1]
        for listener in self.listeners:
            listener(len(ids), found[1])
        return found

    def holds(self, ids: Sequence[int]) -> bool:
        """Whether `ids` is a cached prefix (without counting a lookup)."""
        return tuple(ids) in self._index

    def add(self, entry: Entry, boundaries: Sequence[int]) -> None:
        """Store `entry`, findable by its prefixes ending at `boundaries`."""
        size = entry.nbytes
        if not self.enabled or id(entry) in self._entries or size > self.max_bytes:
            return
        while self._entries and self._bytes + size > self.max_bytes:
            self._evict()
        # A prefix found in several sequences points to the newest, which is evicted last.
        ends = sorted({end for end in boundaries if 0 < end <= len(entry.ids)})
        entry.keys = [entry.ids[:end] for end in ends]
        for key in entry.keys:
            self._index[key] = entry
        self._entries[id(entry)] = entry
        self._bytes += size

    def clear(self) -> None:
        """Drop every entry and reset `stats` (listeners stay)."""
        self._entries.clear()
        self._index.clear()
        self._bytes = 0
        self.stats = CacheStats()

    def _evict(self) -> None:
        _, old = self._entries.popitem(last=False)
        for key in old.keys:
            if self._index.get(key) is old:
                del self._index[key]
        self._bytes -= old.nbytes
