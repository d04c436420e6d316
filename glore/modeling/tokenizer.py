"""The shared tokenizer: a small lossless byte-level BPE trained on the task corpus.

Decisions, each checked by the tests:

* Byte-level (GPT-2 style): every string encodes, and `decode(encode(text)) == text`
  exactly, whatever characters a model or a user writes.
* Digits are isolated before the byte-level split, so `42` is always the two tokens
  `4`, `2`: arithmetic sees every digit, and no merge can ever glue digits together.
* The GPT-2 split regex keeps runs of whitespace apart from letters, so a newline never
  merges with the word after it and every step ends on a token of its own.
* `<pad>`, `<s>`, `</s>` and `[BAD]` are special tokens (ids 0-3). `<s>` is added at the
  start of every encoding; `</s>` never is (the training code appends it to targets).
* Offsets are character offsets into the original string (no offset trimming): a token
  with a leading space (`Ġwords`) starts at that space.
* Padding is on the left by default, as batched generation needs; training code may
  set `tokenizer.padding_side = "right"`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from glore.errors import InvalidInputError
from glore.formats import (
    BAD_MARKER,
    Problem,
    global_prompt,
    local_prompt,
    scorer_prompt,
    student_prompt,
)

PAD_TOKEN = "<pad>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, BAD_MARKER)
"""Special tokens in id order: `<pad>` is 0, `<s>` 1, `</s>` 2, `[BAD]` 3."""

_MIN_VOCAB = 256 + len(SPECIAL_TOKENS)


def _backend(texts: Iterable[str], vocab_size: int, min_frequency: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos_id = tok.token_to_id(BOS_TOKEN)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A $B:1",
        special_tokens=[(BOS_TOKEN, bos_id)],
    )
    return tok


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 512, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on `texts` and wrap it for `transformers`.

    `vocab_size` (default 512) counts the 256 byte tokens and the 4 special tokens, so it
    must be at least 260; the result may be smaller when the texts offer fewer merges.
    `min_frequency` (default 2) is the fewest occurrences a pair needs to be merged.
    Training is deterministic: the same texts give the same tokenizer. Bad arguments
    raise `InvalidInputError`.
    """
    if vocab_size < _MIN_VOCAB:
        raise InvalidInputError(f"vocab_size must be at least {_MIN_VOCAB}, got {vocab_size}")
    if min_frequency < 1:
        raise InvalidInputError(f"min_frequency must be at least 1, got {min_frequency}")
    backend = _backend(texts, vocab_size, min_frequency)
    wrap: Any = PreTrainedTokenizerFast  # untyped in transformers 5
    tokenizer: PreTrainedTokenizerFast = wrap(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[BAD_MARKER],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path) -> None:
    """Write the tokenizer to `directory`; `AutoTokenizer.from_pretrained` reads it back."""
    tokenizer.save_pretrained(str(directory))


def corpus_texts(problems: Iterable[Problem]) -> Iterator[str]:
    """Every kind of text the five roles read or write, for each problem.

    The question, the reference solution (the student's and the refiners' target), and
    the student, scorer, global-refiner and local-refiner prompts with the reference
    solution as the draft. The local prompt's `[BAD]` moves through the steps from one
    problem to the next, so every position is seen without repeating each problem.
    Problems without a reference solution give their question and student prompt only.
    """
    for index, problem in enumerate(problems):
        yield problem.question
        yield student_prompt(problem.question).text
        if problem.solution is None or not problem.solution.steps:
            continue
        steps: Sequence[str] = problem.solution.steps
        yield problem.solution.text
        yield scorer_prompt(problem.question, steps).text
        yield global_prompt(problem.question, steps).text
        yield local_prompt(problem.question, steps, index % len(steps)).text
