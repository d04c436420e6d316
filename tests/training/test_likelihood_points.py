"""The points a likelihood head is fitted on: the ORM's at each sample's last step, the
SORM's at each kept step label; and the within-group ranking the stage reports."""

from glore.labels.records import StepLabels
from training.stages.likelihood import points, ranking


def _features(n: int, base: float) -> list[tuple[float, float, float]]:
    return [(base + j, base - j, (j + 1) / 100) for j in range(n)]


ITEMS = [
    StepLabels("q1", "Q1", ["a", "b", "#### 1"], [1, None, 0], raw=[1, 1, 0]),
    StepLabels("q1", "Q1", ["a", "#### 2"], [None, 1], raw=[1, 1]),
    StepLabels("q2", "Q2", ["c", "#### 3"], [0, 0], raw=[0, 0]),
]
FEATURES = [_features(3, 0.0), _features(2, 10.0), _features(2, 20.0)]


def test_the_orm_is_fitted_at_each_samples_last_step_to_its_outcome() -> None:
    xs, ys, groups = points("orm", ITEMS, FEATURES)
    assert xs == [FEATURES[0][2], FEATURES[1][1], FEATURES[2][1]]
    assert ys == [0, 1, 0]
    assert groups == [("q1", -1), ("q1", -1), ("q2", -1)]  # one group per question


def test_the_sorm_is_fitted_at_every_kept_step_label() -> None:
    xs, ys, groups = points("sorm", ITEMS, FEATURES)
    assert xs == [FEATURES[0][0], FEATURES[0][2], FEATURES[1][1], FEATURES[2][0], FEATURES[2][1]]
    assert ys == [1, 0, 1, 0, 0]  # balancing's None is no point; `raw` is not read
    assert groups == [("q1", 0), ("q1", 2), ("q1", 1), ("q2", 0), ("q2", 1)]


def test_ranking_counts_right_over_wrong_pairs_within_a_group_only() -> None:
    groups = [("q", -1), ("q", -1), ("q", -1), ("r", -1), ("r", -1)]
    # q: right 0.9 beats wrong 0.1 and loses to wrong 0.95; r: right 0.2 < wrong 0.8.
    assert ranking([0.9, 0.1, 0.95, 0.2, 0.8], groups, [1, 0, 0, 1, 0]) == round(1 / 3, 4)
    assert ranking([0.5, 0.4], [("q", 0), ("r", 0)], [1, 0]) is None  # no pair in one group


def test_a_sorm_on_raw_labels_learns_every_rollout_label() -> None:
    from training.stages.reward_models import sorm_items

    balanced = [StepLabels("q", "Q?", ["a", "b", "#### 1"], [None, 0, None], [1, 0, 0])]
    assert sorm_items(balanced, "balanced") == balanced
    (raw,) = sorm_items(balanced, "raw")
    assert raw.labels == [1, 0, 0] and balanced[0].labels == [None, 0, None]
