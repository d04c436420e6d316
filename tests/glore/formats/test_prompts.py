import pytest

from glore.formats import BAD_MARKER, global_prompt, local_prompt, scorer_prompt, student_prompt

Q = "Mia has 3 apples.  She buys 4 more. How many apples does Mia have now?"
STEPS = ["Mia now has 3 + 4 = <<3+4=7>>7 apples.", "#### 7"]


def test_spans_point_at_the_steps() -> None:
    for prompt in (scorer_prompt(Q, STEPS), global_prompt(Q, STEPS)):
        assert [prompt.text[a:b] for a, b in prompt.step_spans] == STEPS


def test_student_prompt_ends_where_the_solution_starts() -> None:
    p = student_prompt(Q)
    assert p.text.endswith("Answer:\n") and not p.step_spans
    assert "  " not in p.text  # whitespace in questions is normalised


def test_local_prompt_marks_and_keeps_the_prefix() -> None:
    p = local_prompt(Q, STEPS, 1)
    draft = p.text[: p.text.index("Revised answer:")]
    assert f"{BAD_MARKER} {STEPS[1]}" in draft
    assert p.text.endswith(f"Revised answer:\n{STEPS[0]}\n")
    assert local_prompt(Q, STEPS, 0).text.endswith("Revised answer:\n")
    with pytest.raises(ValueError, match="first_error"):
        local_prompt(Q, STEPS, 2)
