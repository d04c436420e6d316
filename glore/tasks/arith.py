"""`arith`: a procedurally generated GSM8K-style task that tiny models can learn.

A problem follows one person's stock of one item through 2 to N events (buy, give away,
multiply, share out, buy boxes of a size stated earlier, receive another person's items).
Some numbers are introduced in one sentence and used in a later one, and distractor
sentences mention irrelevant numbers, some about the same item. Every step is one line
with a calculator annotation; the true value after each step is kept in `Problem.meta`.

Splits are disjoint by construction: a question's split is a function of its hash, and
each split keeps only the questions that hash to it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from glore.errors import ConfigError, InvalidInputError
from glore.formats import Problem, Solution

NAMES = (
    "Mia",
    "Leo",
    "Ava",
    "Sam",
    "Zoe",
    "Max",
    "Ivy",
    "Ben",
    "Eli",
    "Amy",
    "Tom",
    "Kim",
    "Ray",
    "Liz",
    "Dan",
    "Eva",
    "Jon",
    "Ana",
    "Raj",
    "Noa",
)
ITEMS = (
    "apples",
    "pencils",
    "stickers",
    "marbles",
    "cookies",
    "books",
    "shells",
    "cards",
    "coins",
    "stamps",
    "eggs",
    "beads",
    "toys",
    "plums",
    "cups",
)
BOXES = (("box", "boxes"), ("bag", "bags"), ("pack", "packs"), ("crate", "crates"), ("jar", "jars"))
OPS = ("add", "sub", "mul", "div", "group", "transfer")
SPLITS = ("train", "validation", "test", "hard")
# Share of the hash space owned by each split; "hard" shares the test bucket.
_BUCKETS = {"train": (0, 80), "validation": (80, 90), "test": (90, 100), "hard": (90, 100)}


@dataclass(frozen=True)
class ArithConfig:
    """Difficulty knobs. Each field: default, then bound."""

    min_steps: int = 2
    """Fewest reasoning steps in train/validation/test (2; >= 1)."""
    max_steps: int = 4
    """Most reasoning steps in train/validation/test (4; min_steps..12)."""
    hard_steps: tuple[int, int] = (5, 7)
    """Step range of the `hard` split ((5, 7); must start above max_steps)."""
    max_start: int = 20
    """Largest starting quantity (20; >= 2)."""
    max_operand: int = 12
    """Largest number added, taken away, or given by another person (12; >= 1)."""
    max_factor: int = 4
    """Largest multiplier, divisor and box count; box sizes go to twice this (4; >= 2)."""
    max_value: int = 150
    """Largest value any step may reach (150; >= 10)."""
    ops: tuple[str, ...] = OPS
    """Allowed events, a subset of add, sub, mul, div, group, transfer (all)."""
    max_distractors: int = 2
    """Most distractor sentences per problem, each drawn with probability 1/2 (2; >= 0)."""
    split_sizes: dict[str, int] = field(
        default_factory=lambda: {"train": 20000, "validation": 500, "test": 500, "hard": 500}
    )
    """Problems per split when `load` is given no `n`."""

    def __post_init__(self) -> None:
        checks = [
            (self.min_steps >= 1, "min_steps must be >= 1"),
            (self.min_steps <= self.max_steps <= 12, "max_steps must be in [min_steps, 12]"),
            (
                self.max_steps < self.hard_steps[0] <= self.hard_steps[1] <= 12,
                "hard_steps must be (lo, hi) with max_steps < lo <= hi <= 12",
            ),
            (self.max_start >= 2, "max_start must be >= 2"),
            (self.max_operand >= 1, "max_operand must be >= 1"),
            (self.max_factor >= 2, "max_factor must be >= 2"),
            (self.max_value >= 10, "max_value must be >= 10"),
            (self.max_distractors >= 0, "max_distractors must be >= 0"),
            (bool(self.ops) and set(self.ops) <= set(OPS), f"ops must be a subset of {OPS}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"ArithConfig: {message}")


def question_hash(question: str) -> int:
    return int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big")


def split_of(question: str) -> str:
    """The split (train, validation or test) that owns `question`."""
    bucket = question_hash(question) % 100
    return next(s for s, (lo, hi) in _BUCKETS.items() if lo <= bucket < hi)


@dataclass
class _Story:
    """A problem being written: sentences before the question, solution lines, values."""

    rng: random.Random
    cfg: ArithConfig
    hero: str
    item: str
    others: list[str]
    value: int
    sentences: list[str]
    lines: list[str] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)

    def fact_before_end(self, sentence: str) -> None:
        """Insert a fact somewhere after the opening sentence: it may be far from its use."""
        self.sentences.insert(self.rng.randint(1, len(self.sentences)), sentence)

    def new_person(self) -> str:
        """A name not used yet in this problem, so no sentence is ambiguous."""
        return self.others.pop()

    def new_box(self) -> tuple[str, str]:
        used = {one for one, _ in BOXES if f"Each {one} " in " ".join(self.sentences)}
        return self.rng.choice([b for b in BOXES if b[0] not in used])

    def step(self, line: str, value: int) -> None:
        self.lines.append(line)
        self.values.append(value)
        self.value = value

    def now_has(self, a: int, sign: str, b: int, r: int) -> str:
        return f"{self.hero} now has {a} {sign} {b} = <<{a}{sign}{b}={r}>>{r} {self.item}."


def _add(s: _Story) -> bool:
    a = s.rng.randint(1, s.cfg.max_operand)
    r = s.value + a
    if r > s.cfg.max_value:
        return False
    verb = s.rng.choice(("buys", "finds", "gets", "wins"))
    s.sentences.append(f"{s.hero} {verb} {a} more {s.item}.")
    s.step(s.now_has(s.value, "+", a, r), r)
    return True


def _sub(s: _Story) -> bool:
    if s.value < 2:
        return False
    a = s.rng.randint(1, min(s.cfg.max_operand, s.value - 1))
    phrase = s.rng.choice(
        (f"gives {a} {s.item} to {s.others[0]}", f"loses {a} {s.item}", f"sells {a} {s.item}")
    )
    s.sentences.append(f"{s.hero} {phrase}.")
    s.step(s.now_has(s.value, "-", a, s.value - a), s.value - a)
    return True


def _mul(s: _Story) -> bool:
    k = s.rng.randint(2, s.cfg.max_factor)
    r = s.value * k
    if r > s.cfg.max_value:
        return False
    times = {2: "twice", 3: "three times"}.get(k, f"{k} times")
    s.sentences.append(f"{s.hero} ends up with {times} as many {s.item} as before.")
    s.step(f"{s.hero} now has {s.value} x {k} = <<{s.value}*{k}={r}>>{r} {s.item}.", r)
    return True


def _div(s: _Story) -> bool:
    divisors = [k for k in range(2, s.cfg.max_factor + 1) if s.value % k == 0]
    if not divisors:
        return False
    k = s.rng.choice(divisors)
    r = s.value // k
    s.sentences.append(
        f"{s.hero} shares the {s.item} equally among {k} friends, keeping one share."
    )
    s.step(f"{s.hero} keeps {s.value} / {k} = <<{s.value}/{k}={r}>>{r} {s.item}.", r)
    return True


def _group(s: _Story) -> bool:
    """Two steps: boxes of a size stated in an earlier sentence, then add them."""
    (one, many), size = s.new_box(), s.rng.randint(2, 2 * s.cfg.max_factor)
    n = s.rng.randint(2, s.cfg.max_factor)
    total, before = n * size, s.value
    if before + total > s.cfg.max_value:
        return False
    s.fact_before_end(f"Each {one} holds {size} {s.item}.")
    s.sentences.append(f"{s.hero} buys {n} {many} of {s.item}.")
    s.lines.append(f"The {n} {many} hold {n} x {size} = <<{n}*{size}={total}>>{total} {s.item}.")
    s.values.append(total)
    s.step(s.now_has(before, "+", total, before + total), before + total)
    return True


def _transfer(s: _Story) -> bool:
    """Another person's count, stated earlier, is added: copying the right number matters."""
    b = s.rng.randint(2, max(2, s.cfg.max_operand))
    if s.value + b > s.cfg.max_value:
        return False
    giver = s.new_person()
    s.fact_before_end(f"{giver} has {b} {s.item}.")
    s.sentences.append(f"{giver} gives all of {giver}'s {s.item} to {s.hero}.")
    s.step(s.now_has(s.value, "+", b, s.value + b), s.value + b)
    return True


_EVENTS: dict[str, Callable[[_Story], bool]] = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "group": _group,
    "transfer": _transfer,
}
_STEPS_OF = {"group": 2}
_MAX_TRIES = 50


def _distractors(s: _Story) -> None:
    other_item = s.rng.choice([i for i in ITEMS if i != s.item])
    options = [
        f"{s.new_person()} has {s.rng.randint(2, s.cfg.max_start)} {s.item}.",
        f"{s.hero} also has {s.rng.randint(2, s.cfg.max_start)} {other_item}.",
        f"{s.others[0]} buys {s.rng.randint(2, s.cfg.max_operand)} {other_item}.",
    ]
    s.rng.shuffle(options)
    for sentence in options[: s.cfg.max_distractors]:
        if s.rng.random() < 0.5:
            s.fact_before_end(sentence)


def generate_problem(rng: random.Random, cfg: ArithConfig, n_steps: int) -> Problem | None:
    """One problem with exactly `n_steps` reasoning steps, or None if the draw ran out of
    room under `max_value` (the caller draws again)."""
    # Enough names for every transfer and a distractor person (popped from the end)
    # and a bystander (others[0]) who only receives and buys unrelated things.
    hero, *others = rng.sample(NAMES, n_steps + 3)
    start = rng.randint(2, cfg.max_start)
    item = rng.choice(ITEMS)
    s = _Story(rng, cfg, hero, item, others, start, [f"{hero} has {start} {item}."])
    for _ in range(_MAX_TRIES):
        left = n_steps - len(s.lines)
        if left == 0:
            break
        op = rng.choice([o for o in cfg.ops if _STEPS_OF.get(o, 1) <= left])
        if _EVENTS[op](s):
            s.ops.append(op)
    if len(s.lines) != n_steps:
        return None
    _distractors(s)
    question = " ".join([*s.sentences, f"How many {item} does {hero} have now?"])
    meta: dict[str, Any] = {"steps": n_steps, "values": s.values, "ops": s.ops, "start": start}
    solution = Solution.from_steps(s.lines, Fraction(s.value))
    return Problem("", question, Fraction(s.value), solution, "arith", None, meta)


@dataclass(frozen=True)
class ArithTask:
    """The `arith` task: splits train, validation, test and hard (more steps than train)."""

    seed: int = 0
    config: ArithConfig = field(default_factory=ArithConfig)
    name: str = "arith"

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def iter_split(self, split: str) -> Iterator[Problem]:
        """An endless, deterministic stream of distinct problems owned by `split`."""
        if split not in SPLITS:
            raise InvalidInputError(f"arith has no split {split!r}; splits: {', '.join(SPLITS)}")
        lo, hi = (
            self.config.hard_steps
            if split == "hard"
            else (self.config.min_steps, self.config.max_steps)
        )
        rng = random.Random(f"arith:{self.seed}:{split}")
        owner = "test" if split == "hard" else split
        seen: set[str] = set()
        index = 0
        while True:
            problem = generate_problem(rng, self.config, rng.randint(lo, hi))
            if problem is None or problem.question in seen or split_of(problem.question) != owner:
                continue
            seen.add(problem.question)
            yield Problem(
                f"arith-{split}-{index}",
                problem.question,
                problem.answer,
                problem.solution,
                problem.source,
                None,
                problem.meta,
            )
            index += 1

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        count = self.config.split_sizes.get(split, 0) if n is None else n
        if count < 0:
            raise InvalidInputError(f"n must be >= 0, got {count}")
        stream = self.iter_split(split)
        return [next(stream) for _ in range(count)]
