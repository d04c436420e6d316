"""Stage `tokenizer`: train the byte-level BPE on the task corpus, or adapt a base model's.

A base model's tokenizer gets `[BAD]` (and a pad token if it has none) as special tokens;
the student stage then resizes the base model's embeddings to match.
"""

from __future__ import annotations

import time
from typing import Any

from glore.formats import BAD_MARKER
from glore.modeling.tokenizer import corpus_texts, train_tokenizer
from training.context import Context

NAME = "tokenizer"


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    out = ctx.run.stage(NAME)
    spec = ctx.recipe.model
    tok: Any
    if spec.base is None:
        count = min(spec.tokenizer_problems, ctx.recipe.student.problems)
        problems = ctx.train_problems(0, count)
        tok = train_tokenizer(corpus_texts(problems), vocab_size=spec.vocab_size)
        source = f"trained on {len(problems)} {ctx.recipe.task.name} train problems"
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec.base)
        tok.add_special_tokens({"additional_special_tokens": [BAD_MARKER]})
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        source = f"from base model {spec.base}"
    tok.save_pretrained(out)
    return ctx.run.finish(NAME, {"vocab": len(tok), "source": source}, started)
