"""How much a local backend can read: its context in tokens, and a counter of a prompt's
tokens, so a caller can refuse a prompt that would not fit before any work starts.

Remote backends have none here (their server checks, and its tokenizer is not local).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContextWindow:
    tokens: int
    """The model's context: prompt and generated tokens together."""
    tokenizer: Any

    def count(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model reads it (special tokens included)."""
        return [len(ids) for ids in self.tokenizer(texts)["input_ids"]]


def context_window(backend: object) -> ContextWindow | None:
    """The window of an embedded generator or scorer; None for any other backend."""
    tokenizer = getattr(backend, "tokenizer", None)
    config = getattr(getattr(backend, "model", None), "config", None)
    size = getattr(config, "max_position_embeddings", None)
    if tokenizer is None or not isinstance(size, int) or size < 1:
        return None
    return ContextWindow(size, tokenizer)


__all__ = ["ContextWindow", "context_window"]
