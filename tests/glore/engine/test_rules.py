import pytest

from glore.engine.rules import first_error, rerank, should_refine


def test_first_error_is_first_step_below_tau() -> None:
    assert first_error([0.9, 0.4, 0.2], 0.5) == 1
    assert first_error([0.1, 0.9], 0.5) == 0


def test_first_error_without_a_low_step_takes_the_lowest() -> None:
    assert first_error([0.9, 0.6, 0.8], 0.5) == 1
    assert first_error([0.7, 0.6, 0.6], 0.5) == 1  # earliest of a tie


def test_first_error_needs_steps() -> None:
    with pytest.raises(ValueError, match="at least one"):
        first_error([], 0.5)


def test_gating() -> None:
    assert should_refine(0.99, "always", 0.5)
    assert should_refine(0.49, "gated", 0.5)
    assert not should_refine(0.5, "gated", 0.5)


def test_rerank_highest_wins_and_ties_keep_the_draft() -> None:
    assert rerank(["draft", "global", "local"], [0.2, 0.7, 0.5]).index == 1
    tie = rerank(["draft", "global", "local"], [0.7, 0.7, 0.7])
    assert tie.index == 0 and "draft" in tie.reason
    assert rerank(["draft", "global", "local"], [0.1, 0.6, 0.6]).index == 1
    with pytest.raises(ValueError):
        rerank(["draft"], [])
