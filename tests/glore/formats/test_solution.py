import dataclasses
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from glore.formats import Problem, Solution, format_answer, parse_solution

GSM8K_STYLE = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
    "#### 72"
)


def test_parse_gsm8k_reference() -> None:
    s = parse_solution(GSM8K_STYLE)
    assert s.answer == 72 and s.answer_source == "marker"
    assert len(s.steps) == 3 and s.steps[-1] == "#### 72"
    assert s.reasoning == s.steps[:2]
    assert s.text == GSM8K_STYLE


def test_messy_model_output() -> None:
    messy = (
        "  Step one 2+2 = 4.   \n\n\n  Then 4*3 = 12 \r\n#### $1,200.50  \nTrailing chatter 99\n"
    )
    s = parse_solution(messy)
    assert s.steps == ("Step one 2+2 = 4.", "Then 4*3 = 12", "#### $1,200.50")
    assert s.answer == Fraction("1200.5")
    assert s.dropped_text


def test_marker_inside_a_line_starts_its_own_step() -> None:
    s = parse_solution("So she has 5 + 2 = 7 apples. #### 7")
    assert s.steps == ("So she has 5 + 2 = 7 apples.", "#### 7")
    assert s.answer == 7


def test_missing_marker_uses_last_number_and_says_so() -> None:
    s = parse_solution("She had 3 and got 4 more.\nSo she has 7 apples")
    assert s.answer == 7 and s.answer_source == "last_number"


def test_no_answer_at_all() -> None:
    assert parse_solution("").answer_source == "none"
    s = parse_solution("I do not know\n####")
    assert s.answer is None and s.answer_source == "none"


def test_bad_marker_is_removed_from_steps() -> None:
    s = parse_solution("a 1+1=2\n[BAD] b 2+2=5\n#### 5")
    assert s.steps[1] == "b 2+2=5"


def test_negative_fraction_and_percent_answers() -> None:
    assert parse_solution("x\n#### -3/4").answer == Fraction(-3, 4)
    assert parse_solution("x\n#### 25%").answer == 25


def test_problem_json_round_trip() -> None:
    sol = Solution.from_steps(["a 1+2 = <<1+2=3>>3"], Fraction(3))
    p = Problem("p1", "What is 1+2?", Fraction(3), sol, "test", None, {"values": [3]})
    assert Problem.from_json(p.to_json()) == p
    assert p.check(sol)


_line_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
_messy_text = st.lists(
    st.one_of(
        st.text(_line_chars, max_size=30),
        st.sampled_from(["", "   ", "#### 12", "#### -1.5", "[BAD]", "1,234", "$3", "50%"]),
    ),
    max_size=8,
).map("\n".join)


@given(_messy_text)
def test_render_parse_round_trip_on_messy_text(text: str) -> None:
    s = parse_solution(text)
    again = parse_solution(s.text)
    assert again == dataclasses.replace(s, dropped_text=False)
    assert all(step and "\n" not in step and step == step.strip() for step in s.steps)


_step = st.text(
    st.characters(whitelist_categories=("L", "N", "Zs"), whitelist_characters="+-*/=.<>"),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() and "####" not in t)


@given(st.lists(_step, min_size=1, max_size=6), st.fractions(max_denominator=1000))
def test_from_steps_round_trip(steps: list[str], answer: Fraction) -> None:
    s = Solution.from_steps(steps, answer)
    assert parse_solution(s.text) == s
    assert s.steps[-1] == f"#### {format_answer(answer)}"
