"""Training recipes: typed, validated before any work starts, loaded from YAML.

Every field has a default and a bound, written beside it. An unknown key or a value out of
bounds raises `ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glore.backends.likelihood_head import BASE_FEATURES, check_features
from glore.errors import ConfigError
from glore.modeling.presets import PRESETS
from training.recipe_sources import TASKS, LoraSpec, ModelSpec, TaskSpec, check_generation
from training.recipe_sources import need as _need

__all__ = ["TASKS", "LoraSpec", "ModelSpec", "Recipe", "TaskSpec", "load_recipe"]


SCHEDULES = ("cosine", "linear", "constant_with_warmup")
"""`transformers` scheduler names a recipe may choose."""

REWARD_KINDS = ("classifier", "likelihood")
"""What an ORM or a SORM may be (`OrmSpec.kind`, `SormSpec.kind`)."""
SORM_LABELS = ("balanced", "raw")
"""Which step labels a SORM may learn (`SormSpec.labels`)."""


def _check_features(names: tuple[str, ...], key: str) -> None:
    try:
        check_features(names)
    except ConfigError as exc:
        raise ConfigError(f"recipe key '{key}.features': {exc}") from None


@dataclass(frozen=True)
class TrainSpec:
    """One supervised training run (used by every model)."""

    steps: int = 300
    """Optimizer steps; the schedule decays to the end (300; >= 1)."""
    batch_size: int = 32
    """Sequences per step (32; >= 1)."""
    lr: float = 1e-3
    """Peak learning rate (1e-3; (0, 1))."""
    warmup: float = 0.05
    """Share of steps spent warming up (0.05; [0, 0.5])."""
    weight_decay: float = 0.0
    """AdamW weight decay (0.0; [0, 1])."""
    schedule: str = "cosine"
    """Learning-rate schedule after warm-up (cosine; one of SCHEDULES)."""
    save_every: int = 0
    """Steps between resumable checkpoints (0: a quarter of the run, at least 10; >= 0)."""
    log_every: int = 0
    """Steps between loss records (0: a twentieth of the run, at least 1; >= 0)."""
    group_by_length: bool = False
    """Draw each batch from examples of similar length, so less of it is padding (False;
    true or false). The order stays random between batches: as `transformers`'
    LengthGroupedSampler, a shuffled epoch is cut into mega-batches of up to 50 batches
    (at least four mega-batches), each sorted by length; drawn from the seed."""

    def check(self, key: str) -> None:
        _need(self.steps >= 1, f"{key}.steps", ">= 1")
        _need(self.batch_size >= 1, f"{key}.batch_size", ">= 1")
        _need(0 < self.lr < 1, f"{key}.lr", "in (0, 1)")
        _need(0 <= self.warmup <= 0.5, f"{key}.warmup", "in [0, 0.5]")
        _need(0 <= self.weight_decay <= 1, f"{key}.weight_decay", "in [0, 1]")
        _need(self.schedule in SCHEDULES, f"{key}.schedule", f"one of {', '.join(SCHEDULES)}")
        _need(self.save_every >= 0, f"{key}.save_every", ">= 0")
        _need(self.log_every >= 0, f"{key}.log_every", ">= 0")
        _need(isinstance(self.group_by_length, bool), f"{key}.group_by_length", "true or false")

    @property
    def save_steps(self) -> int:
        return self.save_every or max(10, self.steps // 4)

    @property
    def logging_steps(self) -> int:
        return self.log_every or max(1, self.steps // 20)


REFINER_INITS = ("student", "verifier")
"""What a refiner is fine-tuned from (`RefinerSpec.init`)."""
REFINER_PAIRS = ("own", "both")
"""Which pairs a refiner learns from (`RefinerSpec.pairs`)."""


@dataclass(frozen=True)
class RefinerSpec(TrainSpec):
    """A refiner's training run, and the model it starts from."""

    init: str = "student"
    """`student` (the paper's: the refiners are the student, fine-tuned on its pairs) or
    `verifier` (the recipe's verifier base, the ORM's and SORM's model: more capacity than
    the student, trained on the same reference solutions; needs a `verifier` section)
    (student; one of REFINER_INITS)."""
    pairs: str = "own"
    """`own` (the paper's: each refiner learns from its own kind of pairs) or `both` (the
    global and the local pairs together: one model that serves both roles, its prompt saying
    which, when a serving spec names it for both) (own; one of REFINER_PAIRS)."""

    def check(self, key: str) -> None:
        super().check(key)
        _need(self.init in REFINER_INITS, f"{key}.init", f"one of {', '.join(REFINER_INITS)}")
        _need(self.pairs in REFINER_PAIRS, f"{key}.pairs", f"one of {', '.join(REFINER_PAIRS)}")


@dataclass(frozen=True)
class OrmSpec(TrainSpec):
    """The ORM's training run, and which of the cached samples it learns from how."""

    kind: str = "classifier"
    """What the ORM is ("classifier"; one of REWARD_KINDS). "classifier": a token classifier
    fine-tuned from the verifier base with the step loss (the paper's). "likelihood": the
    verifier base itself, read as (mean, min token log-probability, length) of a solution
    and weighted by a logistic head fitted to the samples' outcome labels
    (`glore.backends.embedded.likelihood`); `steps`, `lr` and the rest of the training run
    and `pairwise` are then unused."""
    features: tuple[str, ...] = BASE_FEATURES
    """With `kind: likelihood`, the head's features (any distinct ones of
    `glore.backends.likelihood_head.FEATURES`; default the prefix's mean, min and length)."""
    questions: int = 0
    """Learn from the samples of the first N sampled questions only (0: all; >= 0): a
    data-scaling curve from one cached `sample` stage."""
    pairwise: float = 0.0
    """Weight of a within-question Bradley-Terry loss (as TRL's RewardTrainer) on the final
    scores of (right, wrong) samples of one question, added to the step loss. 0 trains
    on every sample with the step loss alone; above 0 on such pairs only (0.0; [0, 10])."""
    pairs_per_question: int = 8
    """Most (right, wrong) pairs per question when `pairwise` > 0; `batch_size` then counts
    pairs (8; >= 1)."""

    def check(self, key: str) -> None:
        super().check(key)
        _need(self.kind in REWARD_KINDS, f"{key}.kind", f"one of {', '.join(REWARD_KINDS)}")
        _need(self.questions >= 0, f"{key}.questions", ">= 0")
        _need(0 <= self.pairwise <= 10, f"{key}.pairwise", "in [0, 10]")
        _need(self.pairs_per_question >= 1, f"{key}.pairs_per_question", ">= 1")
        _check_features(self.features, key)


@dataclass(frozen=True)
class SormSpec(TrainSpec):
    """The SORM's training run on the rollout labels of stage `sorm-label`."""

    kind: str = "classifier"
    """What the SORM is ("classifier"; one of REWARD_KINDS). "classifier": a token
    classifier fine-tuned from its base (`verifier.sorm`) with the step loss at the kept
    (balanced) step labels (the paper's). "likelihood": its base itself, read as its
    `features` of each step prefix, weighted by a logistic head fitted to those same step
    labels; the training run's keys are then unused."""
    features: tuple[str, ...] = BASE_FEATURES
    """With `kind: likelihood`, the head's features (as `OrmSpec.features`)."""
    labels: str = "balanced"
    """Which step labels of stage `sorm-label` it learns ("balanced"; one of SORM_LABELS):
    "balanced", those its balancing kept (the paper's), or "raw", every one."""

    def check(self, key: str) -> None:
        super().check(key)
        _need(self.kind in REWARD_KINDS, f"{key}.kind", f"one of {', '.join(REWARD_KINDS)}")
        _check_features(self.features, key)
        _need(self.labels in SORM_LABELS, f"{key}.labels", f"one of {', '.join(SORM_LABELS)}")


@dataclass(frozen=True)
class StudentSpec:
    train: TrainSpec = field(default_factory=lambda: TrainSpec(steps=600, lr=3e-3))
    """From-scratch (or base) fine-tuning on the train split's reference solutions."""
    problems: int = 19200
    """Train-split problems for supervised training (19200; >= 1; with the expert-iteration
    questions at most the train split's size)."""
    ei_rounds: int = 0
    """Expert-iteration rounds (0; 0..10)."""
    ei_questions: int = 2000
    """Questions sampled per round, the train questions after `problems` (2000; >= 1)."""
    ei_samples: int = 4
    """Samples per question per round, at temperature 1 (4; >= 1)."""
    ei_train: TrainSpec = field(default_factory=lambda: TrainSpec(steps=150, lr=5e-4))
    """Fine-tuning on the kept correct samples each round."""
    max_tokens: int = 160
    """Token budget of an expert-iteration sample and a validation solution (160; 8..4096)."""
    validation_questions: int = 200
    """Validation questions of the final greedy accuracy, fewer if the split is smaller
    (200; 0..100000; 0 skips it)."""

    def check(self) -> None:
        self.train.check("student.train")
        self.ei_train.check("student.ei_train")
        _need(self.problems >= 1, "student.problems", ">= 1")
        _need(0 <= self.ei_rounds <= 10, "student.ei_rounds", "in 0..10")
        _need(self.ei_questions >= 1, "student.ei_questions", ">= 1")
        _need(self.ei_samples >= 1, "student.ei_samples", ">= 1")
        _need(8 <= self.max_tokens <= 4096, "student.max_tokens", "in 8..4096")
        _need(
            0 <= self.validation_questions <= 100_000,
            "student.validation_questions",
            "in 0..100000",
        )


@dataclass(frozen=True)
class VerifierSpec:
    """The base the ORM and the SORM start from when it is not the student itself: a
    student-sized verifier cannot check the arithmetic the student gets wrong
    (docs/results/ablations.md). Two ways to make it, both from the student's own data:

    * `expand` > 0: the student with `expand` more decoder blocks (LLaMA Pro block
      expansion, Wu et al. 2024): each new block copies the block before it with its output
      projections zeroed, so the base computes exactly what the student does and the extra
      blocks learn only what the ORM or SORM loss teaches. `preset` and `train` are unused.
    * `expand` = 0: a causal LM of `preset` trained from scratch by `train` on the student's
      supervised data (the train split's first `student.problems` reference solutions)."""

    expand: int = 0
    """Decoder blocks added to the student, spread evenly after its blocks (0: a
    from-scratch base instead; 0..64, at most the student's block count times 4)."""
    preset: str = "small"
    """Size preset of a from-scratch base ("small"; a name in glore.modeling.PRESETS)."""
    train: TrainSpec = field(default_factory=lambda: TrainSpec(steps=900, lr=1e-3))
    """A from-scratch base's supervised run (900 steps at lr 1e-3; chosen on validation for
    the small preset: 61.5% greedy, against 3.5% at the tiny student's 3e-3)."""
    sorm: bool = True
    """Whether the SORM starts from this base too (true; false: the SORM starts from the
    student and the base serves the ORM alone)."""

    def check(self) -> None:
        _need(0 <= self.expand <= 64, "verifier.expand", "in 0..64")
        _need(isinstance(self.sorm, bool), "verifier.sorm", "true or false")
        _need(self.preset in PRESETS, "verifier.preset", f"one of {sorted(PRESETS)}")
        self.train.check("verifier.train")

    @property
    def label(self) -> str:
        """How the base was made, as the manifest's `init` says it."""
        if self.expand:
            return f"student + {self.expand} blocks"
        return f"scratch ({self.preset})"


@dataclass(frozen=True)
class SampleSpec:
    questions: int = 2000
    """Train questions to sample (2000; >= 1; from `start`, within the train split)."""
    start: int | None = None
    """First train question sampled (None: the one after the student's problems and
    expert-iteration questions, so no sampled question was trained on; >= 0: that index,
    e.g. 0 samples the student's own questions as the paper does on GSM8K)."""
    samples: int = 4
    """Samples per question, S (4; 1..64)."""
    temperature: float = 1.0
    """Sampling temperature (1.0; (0, 2])."""
    max_tokens: int = 160
    """Token budget per solution, and per rollout in sorm-label (160; 8..4096)."""
    chunk: int = 16
    """Questions per resumable chunk file (16; 1..100000). Each chunk is one generate call
    of `chunk` x `samples` solutions: larger keeps a GPU busier, smaller loses less to a
    kill. Its seed is the chunk's index, so changing it changes the samples."""

    def check(self) -> None:
        _need(self.questions >= 1, "sample.questions", ">= 1")
        _need(self.start is None or self.start >= 0, "sample.start", "unset or >= 0")
        _need(1 <= self.samples <= 64, "sample.samples", "in 1..64")
        _need(0 < self.temperature <= 2, "sample.temperature", "in (0, 2]")
        _need(8 <= self.max_tokens <= 4096, "sample.max_tokens", "in 8..4096")
        _need(1 <= self.chunk <= 100_000, "sample.chunk", "in 1..100000")


@dataclass(frozen=True)
class SormLabelSpec:
    questions: int = 400
    """Sampled questions whose prefixes are rolled out (400; >= 1)."""
    k: int = 8
    """Rollouts per prefix, as in the paper (8; 1..256)."""
    balance: bool = True
    """Balance positives and negatives at each step position (True)."""
    noise_prefixes: int = 64
    """Prefixes relabelled with `noise_k` rollouts to estimate label noise (64; >= 0)."""
    noise_k: int = 32
    """Rollouts per prefix for the noise estimate (32; > k)."""
    bench_prefixes: int = 16
    """Prefixes timed batched and one call per prefix, side by side (16; >= 0)."""
    chunk: int = 32
    """Prefixes per resumable chunk file, each one generate call of `chunk` x `k`
    rollouts (32; 1..100000); as `sample.chunk`, changing it changes the rollouts."""

    def check(self) -> None:
        _need(self.questions >= 1, "sorm_label.questions", ">= 1")
        _need(1 <= self.k <= 256, "sorm_label.k", "in 1..256")
        _need(self.noise_prefixes >= 0, "sorm_label.noise_prefixes", ">= 0")
        _need(self.noise_k > self.k, "sorm_label.noise_k", f"> k ({self.k})")
        _need(self.bench_prefixes >= 0, "sorm_label.bench_prefixes", ">= 0")
        _need(1 <= self.chunk <= 100_000, "sorm_label.chunk", "in 1..100000")


@dataclass(frozen=True)
class RefineDataSpec:
    cap_per_question: int = 4
    """Most pairs of each kind per question (4; >= 1)."""
    global_drafts: str = "samples"
    """Where a global pair's incorrect draft comes from: "samples" (an incorrect sample of
    the question, as the paper pairs them), "greedy" (the student's greedy solution, what
    the refiner is handed when serving, where it is incorrect; generated by this stage for
    the questions with a correct sample, and paired with those samples) or "both" (the
    pairs of each, each capped at `cap_per_question`)."""
    local_drafts: str = "samples"
    """Where a local pair's incorrect draft comes from: "samples" (the incorrect samples of
    the first `sorm_label.questions` questions, whose prefixes that stage rolled out, as
    the paper does), "greedy" (the student's incorrect greedy drafts of the sampled
    questions with a correct sample, their prefixes rolled out here with `sorm_label.k`; the
    same label rule) or "both"."""

    def check(self) -> None:
        _need(self.cap_per_question >= 1, "refine_data.cap_per_question", ">= 1")
        for key in ("global_drafts", "local_drafts"):
            _need(
                getattr(self, key) in DRAFT_SOURCES,
                f"refine_data.{key}",
                f"one of {', '.join(DRAFT_SOURCES)}",
            )


DRAFT_SOURCES = ("samples", "greedy", "both")


@dataclass(frozen=True)
class ExportSpec:
    name: str = "default"
    """Store name under `store` ("default")."""
    store: str = "model_store"
    """Folder of model stores ("model_store")."""
    eval_questions: int = 500
    """The task's test questions for the held-out numbers, fewer if the split is smaller
    (500; >= 1)."""
    eval_samples: int = 2
    """Samples per test question for ORM/SORM accuracy and AUROC (2; >= 1)."""
    max_tokens: int = 160
    """Token budget of a held-out solution (160; 8..4096)."""

    def check(self) -> None:
        _need(bool(self.name) and "/" not in self.name, "export.name", "a plain folder name")
        _need(self.eval_questions >= 1, "export.eval_questions", ">= 1")
        _need(self.eval_samples >= 1, "export.eval_samples", ">= 1")
        _need(8 <= self.max_tokens <= 4096, "export.max_tokens", "in 8..4096")


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    """Seed of model initialisation, sampling and data order (0)."""
    threads: int = 2
    """CPU threads for torch (2; >= 1)."""
    gen_batch: int = 64
    """Sequences per generation or scoring batch; validation and held-out solutions go in
    calls of about this many, one progress tick each (64; 1..100000)."""
    gen_processes: int = 1
    """Processes `sample` and `sorm-label` generate in, each with `threads / gen_processes`
    torch threads and its own copy of the student (`training.chunks.run_chunks_split`;
    on this project's 2-core machine 2 did not beat 1, see the README's Benchmarks)
    (1; 1..64, at most `threads`)."""
    generation: dict[str, Any] | None = None
    """Where `sample` and `sorm-label` generate (None: in this process, `gen_batch` at a
    time): a vLLM server serving this run's student (RUN/student/model, started once the
    student stage is done), written as a role of a serving spec: {url, model} and any
    option of `glore.backends.remote.RemoteGenerator` (timeout_s, deadline_s,
    max_prompts_per_request, max_connections...). Not part of the run's digest: where
    the same model generates does not change what a run is."""
    task: TaskSpec = field(default_factory=TaskSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    student: StudentSpec = field(default_factory=StudentSpec)
    verifier: VerifierSpec | None = None
    """The ORM's and SORM's own base model (None: they start from the student). A
    from-scratch base needs a from-scratch student (`model.base` unset): it shares its
    tokenizer."""
    sample: SampleSpec = field(default_factory=SampleSpec)
    sorm_label: SormLabelSpec = field(default_factory=SormLabelSpec)
    orm: OrmSpec = field(default_factory=lambda: OrmSpec(steps=300, lr=5e-4))
    sorm: SormSpec = field(default_factory=lambda: SormSpec(steps=300, lr=5e-4))
    refine_data: RefineDataSpec = field(default_factory=RefineDataSpec)
    global_refiner: RefinerSpec = field(default_factory=lambda: RefinerSpec(steps=300, lr=5e-4))
    local_refiner: RefinerSpec = field(default_factory=lambda: RefinerSpec(steps=300, lr=5e-4))
    export: ExportSpec = field(default_factory=ExportSpec)

    def check(self) -> None:
        _need(self.threads >= 1, "threads", ">= 1")
        _need(1 <= self.gen_batch <= 100_000, "gen_batch", "in 1..100000")
        _need(1 <= self.gen_processes <= min(64, self.threads), "gen_processes", "in 1..threads")
        check_generation(self.generation)
        for part in (
            self.task,
            self.model,
            self.student,
            self.sample,
            self.sorm_label,
            self.refine_data,
            self.export,
        ):
            part.check()
        for key in ("orm", "sorm", "global_refiner", "local_refiner"):
            getattr(self, key).check(key)
        if self.verifier is not None:
            self.verifier.check()
            scratch = self.verifier.expand == 0
            _need(not scratch or self.model.base is None, "verifier.expand", "> 0 with model.base")
        for key in ("global_refiner", "local_refiner"):
            if getattr(self, key).init == "verifier":  # LoRA adapters are served on the student
                _need(self.verifier is not None, f"{key}.init", "student without a verifier")
                _need(self.model.lora is None, f"{key}.init", "student with model.lora")

    @property
    def sample_start(self) -> int:
        """The first train question `sample` takes (see `sample.start`)."""
        if self.sample.start is not None:
            return self.sample.start
        return self.student.problems + self.student.ei_rounds * self.student.ei_questions

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """What a run directory was made by: every section but `export`, which only says
        where the finished models go (a run may be exported again under another name), and
        `generation`, which only says where the student generates."""
        made_by = {
            k: v for k, v in identity(self.to_dict()).items() if k not in ("export", "generation")
        }
        return hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:16]


TRAIN_SECTIONS = (
    "student.train",
    "student.ei_train",
    "verifier.train",
    "orm",
    "sorm",
    "global_refiner",
    "local_refiner",
)
"""Where a `TrainSpec` sits in a recipe (a dotted path for a nested one)."""

ADDED_KEYS: dict[tuple[str, str], Any] = {
    ("", "verifier"): None,
    ("", "gen_processes"): 1,
    ("task", "path"): None,
    ("model", "tokenizer_problems"): 5000,
    ("model", "max_len"): 512,
    ("student", "max_tokens"): 160,
    ("student", "validation_questions"): 200,
    ("sample", "start"): None,
    ("sample", "chunk"): 16,
    ("sorm_label", "chunk"): 32,
    ("export", "max_tokens"): 160,
    ("sorm", "kind"): "classifier",
    ("orm", "features"): BASE_FEATURES,
    ("sorm", "features"): BASE_FEATURES,
    ("sorm", "labels"): "balanced",
    ("refine_data", "global_drafts"): "samples",
    ("refine_data", "local_drafts"): "samples",
    ("global_refiner", "init"): "student",
    ("local_refiner", "init"): "student",
    ("global_refiner", "pairs"): "own",
    ("local_refiner", "pairs"): "own",
    **{(section, "group_by_length"): False for section in TRAIN_SECTIONS},
}
"""Keys added after runs had been made, with the value those runs used (the constants the
stages had). At that value a key is left out of what identifies a run (`digest`, the
variant check), so a run made before the key existed still matches its recipe. A section
may be a dotted path ("student.train"); "" is the top level."""


def identity(data: dict[str, Any]) -> dict[str, Any]:
    """A recipe's dict without the `ADDED_KEYS` that hold the value runs had before them."""
    out = copy.deepcopy(data)  # nested sections are popped from too; the caller's stays whole
    for (section, key), value in ADDED_KEYS.items():
        part: Any = out
        for name in section.split(".") if section else ():
            part = part.get(name) if isinstance(part, dict) else None
        if isinstance(part, dict) and part.get(key, value) == value:
            part.pop(key, None)
    return out


def _build(cls: type[Any], data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"recipe key {key or 'top level'!r}: must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        path = f"{key}.{name}" if key else str(name)
        if name not in fields:
            raise ConfigError(
                f"recipe key {path!r} is unknown; allowed: {', '.join(sorted(fields))}"
            )
        kwargs[name] = _convert(hints[name], value, path)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, path: str) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) and value is None:
        return None
    target = args[0] if isinstance(hint, types.UnionType) else hint
    if dataclasses.is_dataclass(target):
        return _build(target, value, path)  # type: ignore[arg-type]
    if typing.get_origin(target) is tuple:
        return tuple(value)
    if target is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if target in (int, str, bool) and not isinstance(value, target):
        raise ConfigError(f"recipe key {path!r}: must be {target.__name__}, got {value!r}")
    return value


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a YAML recipe; nothing runs before this succeeds."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {p} is not valid YAML: {exc}") from None
    return recipe_from_dict(data)


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """A validated recipe from its mapping (a YAML file's, or a manifest's `recipe`)."""
    recipe: Recipe = _build(Recipe, data, "")
    recipe.check()
    return recipe
