"""What one `glore eval` run measures: the dataset slice, the reports, their knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from glore.errors import InvalidInputError

Report = Literal["reward", "refine"]
REPORTS: tuple[Report, ...] = ("reward", "refine")
TASKS = ("arith", "arith-hard", "gsm8k", "svamp")
DEFAULT_SPLIT = {"arith": "test", "arith-hard": "hard", "gsm8k": "test", "svamp": "test"}
"""The held-out split of each task. GSM8K and SVAMP also have the training splits
(`glore.tasks.splits`: train, validation, test by question hash), and SVAMP its whole
file, `all` (for a store trained on something else)."""

_ARGMAX: dict[str, Any] = {"mode": "always", "rerank_margin": 0.0, "rerank_floor": 0.0}
"""The paper's plain argmax rerank (no margin, no floor) over every refined draft."""

ROW_STRATEGY: dict[str, tuple[str, dict[str, Any]]] = {
    "greedy": ("greedy", {}),
    "best_of_3": ("best_of_n", {"best_of": 3}),
    "global": ("global", _ARGMAX),
    "local": ("local", _ARGMAX),
    "local_orm": ("local_orm", _ARGMAX),
    "glore": ("glore", {"mode": "always"}),
    "glore_gated": ("glore", {"mode": "gated"}),
    "multi_round": ("multi_round", _ARGMAX),
    "glore_argmax": ("glore", _ARGMAX),
    "glore_vote": ("glore_vote", {"mode": "always"}),
    "best_of_3_checked": ("best_of_n", {"best_of": 3, "rerank": "checked"}),
    "glore_checked": ("glore", {"mode": "always", "where": "checked", "rerank": "checked"}),
    "repair": ("repair", {"mode": "always"}),
    "glore_repair": ("glore_repair", {"mode": "always", "where": "checked"}),
}
"""Row -> (engine strategy, options). `glore`, `glore_gated` and `glore_vote` run with the
engine's defaults, so with the store's calibrated rerank margin and floor: what a user gets. The
paper's comparison rows (global only, local only, local with the ORM's critique,
multi-round) and `glore_argmax` rerank by the paper's plain argmax (margin and floor 0), so they
show what each refiner's candidates do. `multi_round`'s first round follows `mode`, later
rounds refine only while the ORM says wrong. `glore_vote` lets answer agreement decide
first (not the paper's method). The `_checked` rows add the exact step check
(`glore.formats.checks`, not the paper's): candidates with wrong arithmetic lose to those
without before the ORM ranks, and `glore_checked` also restarts the local refiner at the
first wrong arithmetic where it comes before the SORM's first error. `repair` (not the
paper's) replaces the first wrong result by the correct value and lets the student go on
from there; `glore_repair` adds that candidate to glore_checked's; both rerank checked."""

ROWS: tuple[str, ...] = tuple(ROW_STRATEGY)
"""The refinement table's strategy rows, in the paper's order (the oracle row is derived)."""


@dataclass(frozen=True)
class EvalConfig:
    """Each field: default, then bound."""

    task: str = "arith"
    """`arith` (test split in distribution), `arith-hard` (more steps), `gsm8k`, `svamp`."""
    split: str | None = None
    """The task's split (None: the task's held-out one, `DEFAULT_SPLIT`)."""
    data: str | None = None
    """Dataset file or folder for `gsm8k` and `svamp` (None; required for them)."""
    questions: int = 500
    """Questions in the refinement report (500; 1..100000, fewer if the split is smaller)."""
    reward_questions: int = 100
    """Questions whose student samples the reward report labels (100; 1..100000)."""
    reward_samples: int = 2
    """Temperature-1 student samples per reward question (2; 1..64)."""
    k_eval: int = 32
    """Rollouts per step prefix for the ground-truth labels (32; 1..1024)."""
    tau: float = 0.5
    """Threshold for step accuracy and first-error localisation (0.5; [0, 1])."""
    reports: tuple[Report, ...] = REPORTS
    """Which reports to run (both)."""
    rows: tuple[str, ...] = ROWS
    """Which strategy rows of the refinement table (all)."""
    bootstrap: int = 1000
    """Bootstrap resamples for the 95% intervals (1000; 10..100000)."""
    batch: int = 100
    """Questions per engine call; one progress tick each (100; 1..10000)."""
    max_tokens: int = 256
    """New tokens per generated solution or rollout (256; 1..4096)."""
    seed: int = 0
    """Seed of the samples, rollouts and bootstrap (0)."""
    task_seed: int = 0
    """The arith generator's seed (0: the problems the store's recipes trained and were
    tuned on; 0..2**31-1, arith tasks only). Any other seed draws fresh problems nobody
    tuned on, still of the split asked for, since a question's hash picks its split
    whatever the seed: a fresh test question is never a training one."""
    engine: dict[str, object] = field(default_factory=dict)
    """Extra engine options for every row (tau_when, tau_where...); none by default."""

    def __post_init__(self) -> None:
        checks = [
            (self.task in TASKS, f"task must be one of {', '.join(TASKS)}"),
            (1 <= self.questions <= 100_000, "questions must be in 1..100000"),
            (1 <= self.reward_questions <= 100_000, "reward_questions must be in 1..100000"),
            (1 <= self.reward_samples <= 64, "reward_samples must be in 1..64"),
            (1 <= self.k_eval <= 1024, "k_eval must be in 1..1024"),
            (0.0 <= self.tau <= 1.0, "tau must be in [0, 1]"),
            (bool(self.reports), "reports must name at least one of reward, refine"),
            (set(self.reports) <= set(REPORTS), "reports are 'reward' and 'refine'"),
            (bool(self.rows), "rows must name at least one strategy row"),
            (set(self.rows) <= set(ROWS), f"rows are {', '.join(ROWS)}"),
            (
                set(self.rows) != {"best_of_3"},
                "rows need greedy or a refining row beside best_of_3",
            ),
            (10 <= self.bootstrap <= 100_000, "bootstrap must be in 10..100000"),
            (1 <= self.batch <= 10_000, "batch must be in 1..10000"),
            (1 <= self.max_tokens <= 4096, "max_tokens must be in 1..4096"),
            (0 <= self.task_seed < 2**31, "task_seed must be in 0..2**31-1"),
            (
                self.task_seed == 0 or self.task.startswith("arith"),
                "task_seed draws generated problems: arith and arith-hard only",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"{message}; got {self!r}")

    @property
    def split_name(self) -> str:
        return self.split or DEFAULT_SPLIT.get(self.task, "test")
