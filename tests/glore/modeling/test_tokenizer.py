"""The shared byte-level BPE: lossless, digit-by-digit, offsets and step ends exact."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from glore.errors import InvalidInputError
from glore.formats import (
    BAD_MARKER,
    Problem,
    Prompt,
    Solution,
    global_prompt,
    local_prompt,
    scorer_prompt,
    step_end_tokens,
    student_prompt,
)
from glore.modeling import SPECIAL_TOKENS, corpus_texts, save_tokenizer, train_tokenizer

PROBLEMS = [
    Problem(
        "p1",
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        Fraction(72),
        Solution.from_steps(
            [
                "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
                "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.",
            ],
            Fraction(72),
        ),
    ),
    Problem(
        "p2",
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        Fraction(10),
        Solution.from_steps(
            [
                "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.",
                "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.",
            ],
            Fraction(10),
        ),
    ),
    Problem(
        "p3",
        "A store had 1,250 apples and sold 30% of them. How many apples are left?",
        Fraction(875),
        Solution.from_steps(
            [
                "The store sold 1,250 x 30% = <<1250*30/100=375>>375 apples.",
                "There are 1,250 - 375 = <<1250-375=875>>875 apples left.",
            ],
            Fraction(875),
        ),
    ),
    Problem("p4", "What is 3 - 10?", Fraction(-7), None),
]

ROUND_TRIP_TEXTS = [
    "",
    "42",
    "1,234,567.89",
    "-7 and -0.5 and −3",
    "$1,250.00 costs 12.5% more",
    "She had <<48/2=24>>24 clips.",
    "#### 72",
    "#### -3.75",
    f"Draft:\n{BAD_MARKER} Natalia sold 48/2 = <<48/2=24>>24 clips.\n",
    f"x{BAD_MARKER}y {BAD_MARKER}{BAD_MARKER}",
    "line one\nline two\n\n\nline five\r\n",
    "  leading and trailing spaces  ",
    "tabs\tand\t\ttabs",
    "3 × 4 = 12, café, naïve, 5 €, π ≈ 3.14159, 日本語, 🙂",
    "<s> literal specials </s> <pad>",
    "Question: q\nAnswer:\nstep one\n#### 1",
]


def _texts() -> list[str]:
    return [*corpus_texts(PROBLEMS * 20), *ROUND_TRIP_TEXTS]


@pytest.fixture(scope="session")
def tok() -> Any:
    return train_tokenizer(_texts(), vocab_size=400)


def _round_trip(tok: Any, text: str) -> str:
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    return str(tok.decode(ids[1:], skip_special_tokens=False))


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_round_trip_is_lossless(tok: Any, text: str) -> None:
    assert _round_trip(tok, text) == text


def test_round_trip_of_the_corpus(tok: Any) -> None:
    for text in corpus_texts(PROBLEMS):
        assert _round_trip(tok, text) == text


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=60))
def test_round_trip_of_any_text(tok: Any, text: str) -> None:
    assert _round_trip(tok, text) == text


def test_special_tokens_and_template(tok: Any) -> None:
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == list(SPECIAL_TOKENS)
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<s>", "</s>")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert BAD_MARKER in tok.extra_special_tokens
    assert tok.padding_side == "left"
    ids = tok("12 apples")["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.eos_token_id not in ids
    assert tok("12 apples", add_special_tokens=False)["input_ids"] == ids[1:]


def test_bad_marker_is_one_special_token(tok: Any) -> None:
    bad_id = tok.convert_tokens_to_ids(BAD_MARKER)
    assert bad_id in tok.all_special_ids
    ids = tok(f"{BAD_MARKER} Natalia sold", add_special_tokens=False)["input_ids"]
    assert ids[0] == bad_id
    assert ids.count(bad_id) == 1
    assert tok(BAD_MARKER, add_special_tokens=False)["input_ids"] == [bad_id]
    assert bad_id not in tok("[BA D] [bad]")["input_ids"]


@pytest.mark.parametrize("number", ["0", "42", "72", "1250", "48", "24", "9876543210"])
def test_each_digit_is_its_own_token(tok: Any, number: str) -> None:
    for text in (number, f" {number}", f"=<<{number}+1={number}>>{number}", f"$1,{number}.5%"):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        pieces = [tok.decode([i]) for i in ids]
        digits = [p for p in pieces if any(c.isdigit() for c in p)]
        assert all(len(p) == 1 for p in digits), pieces
        assert "".join(digits) == "".join(c for c in text if c.isdigit())
        assert tok.decode(ids) == text


def test_no_token_mixes_digits_or_newlines(tok: Any) -> None:
    for token in tok.get_vocab():
        text = tok.convert_tokens_to_string([token])
        if any(c.isdigit() for c in text):
            assert len(text) == 1, token
        if "\n" in text:
            assert text.strip("\n") == "", token


def test_newline_is_not_merged_with_the_next_word(tok: Any) -> None:
    text = "Answer:\nNatalia sold\nWeng earns"
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in enc["offset_mapping"]]
    assert pieces.count("\n") == 2
    assert all("\n" not in p or p == "\n" for p in pieces)


def test_offsets_are_characters_of_the_original_text(tok: Any) -> None:
    for text in [*ROUND_TRIP_TEXTS, " He has 3 × 4 = 12 é", "a  b\n c"]:
        enc = tok(text, return_offsets_mapping=True)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
        assert offsets[0] == (0, 0)  # <s>
        covered = previous = 0
        for token_id, (start, end) in zip(enc["input_ids"][1:], offsets[1:], strict=True):
            assert 0 <= start < end <= len(text)
            # In order with no gap; only tokens holding part of a character's bytes overlap.
            assert previous <= start <= covered
            previous, covered = start, max(covered, end)
            piece = tok.decode([token_id])
            if "\ufffd" not in piece:  # a whole character or more: exactly its source text
                assert piece == text[start:end]
        assert covered == len(text)


def test_offsets_keep_the_leading_space(tok: Any) -> None:
    text = "Natalia sold clips"
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in enc["offset_mapping"]]
    assert "".join(pieces) == text
    assert any(p.startswith(" ") for p in pieces)


def _check_step_ends(tok: Any, prompt: Prompt) -> None:
    encoded = step_end_tokens(tok, prompt)
    enc = tok(prompt.text, return_offsets_mapping=True)
    assert encoded.input_ids == enc["input_ids"]
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    assert len(encoded.step_ends) == len(prompt.step_spans)
    for end, (span_start, span_end) in zip(encoded.step_ends, prompt.step_spans, strict=True):
        tok_start, tok_end = offsets[end]
        assert span_start <= tok_start < span_end
        assert tok_end == span_end  # the token ends the step exactly
        step = prompt.text[span_start:span_end]
        piece = tok.decode([encoded.input_ids[end]])
        assert "\ufffd" in piece or step.endswith(piece)
        if end + 1 < len(offsets):
            assert offsets[end + 1][0] >= span_end  # the next token is not in the step


STEPS = [
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
    "She paid $1,250.50 for 3 × 4 = 12 boxes, 30% off",
    "Café costs 5 €",
    "It is -3",
    "#### 72",
]


@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_step_ends_of_every_role(tok: Any, n_steps: int) -> None:
    steps = STEPS[-n_steps:] if n_steps == 1 else STEPS[:n_steps]
    question = PROBLEMS[0].question
    _check_step_ends(tok, scorer_prompt(question, steps))
    _check_step_ends(tok, global_prompt(question, steps))
    for first_error in range(len(steps)):
        _check_step_ends(tok, local_prompt(question, steps, first_error))


def test_save_and_load_with_auto_tokenizer(tok: Any, tmp_path: Path) -> None:
    save_tokenizer(tok, tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()
    assert len(loaded) == len(tok)
    assert loaded.all_special_ids == tok.all_special_ids
    assert loaded.extra_special_tokens == tok.extra_special_tokens
    assert loaded.padding_side == "left"
    for text in _texts():
        a = tok(text, return_offsets_mapping=True)
        b = loaded(text, return_offsets_mapping=True)
        assert a["input_ids"] == b["input_ids"]
        assert a["offset_mapping"] == b["offset_mapping"]
        assert loaded.decode(b["input_ids"][1:]) == text


def test_left_padding_for_generation_batches(tok: Any) -> None:
    batch = tok([student_prompt("What is 2 + 2?").text, "Hi"], padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert len(ids[0]) == len(ids[1])
    assert ids[1][0] == tok.pad_token_id and mask[1][0] == 0
    assert ids[1][mask[1].index(1)] == tok.bos_token_id


def test_training_is_deterministic_and_bounded() -> None:
    a = train_tokenizer(_texts(), vocab_size=300)
    b = train_tokenizer(_texts(), vocab_size=300)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert len(a) <= 300
    with pytest.raises(InvalidInputError):
        train_tokenizer(_texts(), vocab_size=100)
    with pytest.raises(InvalidInputError):
        train_tokenizer(_texts(), min_frequency=0)


def test_corpus_texts_cover_every_role() -> None:
    problem = PROBLEMS[0]
    assert problem.solution is not None
    steps = problem.solution.steps
    texts = list(corpus_texts([problem]))
    assert problem.question in texts
    assert problem.solution.text in texts
    assert student_prompt(problem.question).text in texts
    assert scorer_prompt(problem.question, steps).text in texts
    assert global_prompt(problem.question, steps).text in texts
    assert local_prompt(problem.question, steps, 0).text in texts
    no_solution = list(corpus_texts([PROBLEMS[3]]))
    assert no_solution == [PROBLEMS[3].question, student_prompt(PROBLEMS[3].question).text]


def test_arith_corpus_round_trips() -> None:
    from glore.formats import parse_solution
    from glore.modeling import PRESETS
    from glore.tasks import get_task

    task = get_task("arith")
    tok = train_tokenizer(corpus_texts(task.load("train", n=200)))
    assert len(tok) == 512
    longest = 0
    for split in task.splits:
        problems = task.load(split, n=100)
        for text in corpus_texts(problems):
            ids = tok(text)["input_ids"]
            assert tok.decode(ids[1:], skip_special_tokens=False) == text
            longest = max(longest, len(ids))
        for problem in problems:
            assert problem.solution is not None
            steps = problem.solution.steps
            decoded = tok.decode(tok(problem.solution.text)["input_ids"], skip_special_tokens=True)
            assert parse_solution(decoded) == problem.solution
            _check_step_ends(tok, scorer_prompt(problem.question, steps))
            _check_step_ends(tok, local_prompt(problem.question, steps, len(steps) - 1))
            # The longest training sequence: a global prompt and its target.
            full = global_prompt(problem.question, steps).text + problem.solution.text
            longest = max(longest, len(tok(full)["input_ids"]) + 1)
    assert longest <= min(p.max_position_embeddings for p in PRESETS.values())
