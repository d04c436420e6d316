"""Step-end token positions: where the ORM and SORM are trained and queried.

One function serves training and serving, for every tokenizer with offsets (all fast
Hugging Face tokenizers): a step's end is the last token that starts inside the step, so
the score read there has seen the whole step and nothing of the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glore.formats.prompts import Prompt


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    step_ends: list[int]
    step_starts: list[int] = field(default_factory=list)
    """The first token of each step (where a prefix that stops before the step ends)."""
    kinds: list[int] = field(default_factory=list)
    """Each token's `token_kind` of the text it covers (`WORD` for special tokens)."""


WORD, DIGIT, OPERATOR = 0, 1, 2
"""Token kinds: the likelihood verifier reads its numbers' and operators' log-probabilities
apart from its words' (`glore.backends.likelihood_head`, ablation E34)."""
OPERATORS = frozenset({"+", "-", "*", "/", "x", "=", "<<", ">>", "####"})
"""Operator and equation tokens of the solutions' format (`glore.formats.calc`), as a token
covers them once stripped of spaces."""


def token_kind(text: str) -> int:
    """DIGIT for a token of digits (or a decimal point), OPERATOR for one of `OPERATORS`,
    WORD for anything else: words, punctuation, a word glued to a number."""
    t = text.strip()
    if t and (t.isdigit() or t == "."):
        return DIGIT
    return OPERATOR if t in OPERATORS else WORD


def step_end_tokens(tokenizer: Any, prompt: Prompt, *, add_special_tokens: bool = True) -> Encoded:
    """Tokenize `prompt.text` and return the token index of each step's end.

    Raises ValueError when a step has no token starting inside it, which only happens
    with a tokenizer that merges text across a step boundary.
    """
    enc = tokenizer(prompt.text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]
    ends: list[int] = []
    starts: list[int] = []
    token = 0
    for start, end in prompt.step_spans:
        first = last = -1
        while token < len(offsets):
            tok_start, tok_end = offsets[token]
            if tok_end > tok_start:  # special tokens have empty spans
                if tok_start >= end:
                    break
                if tok_start >= start or (tok_end > start and last < 0):
                    last = token
                    first = token if first < 0 else first
            token += 1
        if last < 0:
            raise ValueError(f"step at characters {start}-{end} has no token of its own")
        ends.append(last)
        starts.append(first)
    kinds = [token_kind(prompt.text[a:b]) for a, b in offsets]
    return Encoded(list(enc["input_ids"]), ends, starts, kinds)
