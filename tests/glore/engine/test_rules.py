import pytest

from glore.engine.rules import Guard, first_error, rerank, should_refine, vote


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


def test_rerank_margin_keeps_the_draft_unless_beaten_by_more() -> None:
    names = ["draft", "global", "local"]
    assert rerank(names, [0.5, 0.7, 0.6], Guard(margin=0.1)).index == 1  # 0.2 above the draft
    kept = rerank(names, [0.5, 0.6, 0.55], Guard(margin=0.1))  # exactly the margin: not enough
    assert kept.index == 0 and "margin 0.10" in kept.reason
    assert rerank(names, [0.0, 1.0, 1.0], Guard(margin=1.0)).index == 0  # 1.0 never replaces it


def test_rerank_floor_keeps_the_draft_when_the_best_refinement_scores_low() -> None:
    names = ["draft", "global", "local"]
    kept = rerank(names, [0.05, 0.3, 0.2], Guard(floor=0.35))  # the ORM is sure of nothing
    assert kept.index == 0 and "below the floor 0.35" in kept.reason
    assert rerank(names, [0.05, 0.35, 0.2], Guard(floor=0.35)).index == 1  # at the floor: taken
    assert rerank(names, [0.05, 0.3, 0.2]).index == 1  # the paper's argmax has no floor
    # the floor never removes the draft: a draft above it still wins when it scores highest
    assert rerank(names, [0.2, 0.1, 0.15], Guard(floor=0.35)).index == 0


def test_vote_prefers_a_shared_answer_then_the_draft_among_its_holders() -> None:
    names = ["draft", "global", "local"]
    # global and local agree against the draft: the better scored of the two wins
    assert vote(names, ["4", "5", "5"], [0.9, 0.2, 0.3]).index == 2
    # the draft shares the majority answer: the draft wins, whatever the scores
    assert vote(names, ["5", "4", "5"], [0.1, 0.9, 0.2]).index == 0
    # no answer shared: the ORM reranks with the margin
    assert vote(names, ["1", "2", "3"], [0.1, 0.9, 0.2]).index == 1
    assert vote(names, ["1", "2", "3"], [0.1, 0.9, 0.2], Guard(margin=0.9)).index == 0
    # unparsed answers are never a majority
    assert vote(names, [None, None, "3"], [0.1, 0.9, 0.2], Guard(margin=0.9)).index == 0
    with pytest.raises(ValueError):
        vote(names, ["1"], [0.1, 0.2, 0.3])


def test_vote_with_a_tie_between_answers_falls_back_to_the_orm() -> None:
    names = ["draft", "a", "b", "c"]
    assert vote(names, ["1", "1", "2", "2"], [0.1, 0.2, 0.3, 0.9]).index == 3
