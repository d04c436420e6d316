"""What a run starts from, as recipe sections: the task and the model (with its LoRA).

Part of `training.recipe` (which re-exports them), kept apart to keep each module short.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glore.errors import ConfigError
from glore.modeling.presets import PRESETS


def need(ok: bool, key: str, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"recipe key {key!r}: must be {allowed}")


TASKS = ("arith", "gsm8k", "svamp")
"""Tasks a recipe may train on; the file datasets' splits are `glore.tasks.splits`'."""


@dataclass(frozen=True)
class TaskSpec:
    name: str = "arith"
    """Training task: `arith` (generated) or `gsm8k` / `svamp` (read from `path`; train,
    validation and test by question hash, see `glore.tasks.splits`) ("arith"; TASKS)."""
    path: str | None = None
    """The dataset: for gsm8k a folder holding train.jsonl and test.jsonl, for svamp the
    SVAMP.json file (None; required by gsm8k and svamp, must exist; unset for arith)."""
    seed: int = 0
    """Generator seed, arith only (0)."""
    arith: dict[str, Any] = field(default_factory=dict)
    """Overrides of `glore.tasks.arith.ArithConfig` fields, arith only ({})."""

    def check(self) -> None:
        need(self.name in TASKS, "task.name", f"one of {', '.join(TASKS)}")
        if self.name == "arith":
            need(self.path is None, "task.path", "unset for arith (it is generated)")
            from glore.tasks.arith import ArithConfig

            known = {f.name for f in dataclasses.fields(ArithConfig)}
            for key in self.arith:
                need(key in known, f"task.arith.{key}", f"one of {sorted(known)}")
            return
        need(not self.arith, "task.arith", f"empty for {self.name} (arith's generator knobs)")
        if self.name == "gsm8k":
            files = ("train.jsonl", "test.jsonl")
            need(
                self.path is not None and all((Path(self.path) / f).is_file() for f in files),
                "task.path",
                f"a folder holding GSM8K's train.jsonl and test.jsonl; got {self.path!r}",
            )
        else:
            need(
                self.path is not None and Path(self.path).is_file(),
                "task.path",
                f"the SVAMP.json file; got {self.path!r}",
            )


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    """LoRA rank (16; >= 1)."""
    alpha: int = 32
    """LoRA alpha (32; >= 1)."""
    dropout: float = 0.05
    """LoRA dropout (0.05; 0..1)."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Modules to adapt (attention projections)."""

    def check(self) -> None:
        need(self.r >= 1, "model.lora.r", ">= 1")
        need(self.alpha >= 1, "model.lora.alpha", ">= 1")
        need(0 <= self.dropout < 1, "model.lora.dropout", "in [0, 1)")


WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
           "pytorch_model.bin.index.json")  # fmt: skip
"""Files of which a base model folder must hold one: its weights, whole or sharded."""
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def base_model_problem(folder: Path) -> str | None:
    """What a base model folder lacks for `transformers` to load it, or None."""
    if not (folder / "config.json").is_file():
        return f"{folder} has no config.json"
    if not any((folder / name).is_file() for name in WEIGHTS):
        return f"{folder} has no weights (one of {', '.join(WEIGHTS)})"
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        return f"{folder} has no tokenizer (one of {', '.join(TOKENIZER_FILES)})"
    return None


@dataclass(frozen=True)
class ModelSpec:
    preset: str = "tiny"
    """Size preset for a from-scratch model ("tiny"; a name in glore.modeling.PRESETS)."""
    base: str | None = None
    """A Hugging Face causal LM folder to start from instead of a preset: any architecture
    `AutoModelForCausalLM` loads (Llama, Qwen2...), with its weights and tokenizer; a GGUF
    file becomes one with `glore models import-gguf` (None)."""
    vocab_size: int = 512
    """Tokenizer vocabulary for a from-scratch model (512; 300..65536)."""
    tokenizer_problems: int = 5000
    """Train problems a from-scratch tokenizer learns from, at most `student.problems`
    (5000; >= 1)."""
    max_len: int = 512
    """Longest training sequence in tokens; longer examples are dropped and counted
    (512; 64..32768). A refiner's example holds the question, a draft and the target."""
    lora: LoraSpec | None = None
    """Train adapters instead of full weights (None: full fine-tuning)."""
    bf16: bool = False
    """Train in bf16 (False; needs a GPU)."""

    def check(self) -> None:
        if self.base is None:
            need(self.preset in PRESETS, "model.preset", f"one of {sorted(PRESETS)}")
        else:
            problem = base_model_problem(Path(self.base))
            need(
                problem is None,
                "model.base",
                f"a directory holding a Hugging Face model (config.json, weights, "
                f"tokenizer): {problem}",
            )
        need(300 <= self.vocab_size <= 65536, "model.vocab_size", "in 300..65536")
        need(self.tokenizer_problems >= 1, "model.tokenizer_problems", ">= 1")
        need(64 <= self.max_len <= 32768, "model.max_len", "in 64..32768")
        if self.lora is not None:
            self.lora.check()


def check_generation(spec: Any) -> None:
    """A recipe's `generation`: None, or {url, model} and `RemoteGenerator` options, each
    of its type and within its bound (the generator is built once to check them)."""
    if spec is None:
        return
    need(
        isinstance(spec, dict)
        and isinstance(spec.get("url"), str)
        and isinstance(spec.get("model"), str),
        "generation",
        "a mapping with a string url and model (a serving spec's role), or unset",
    )
    from glore.backends.remote import RemoteGenerator
    from glore.engine.loading import remote_options
    from glore.errors import InvalidInputError

    types = remote_options(RemoteGenerator)
    options = {k: v for k, v in spec.items() if k not in ("url", "model")}
    for key, value in options.items():
        need(key in types, f"generation.{key}", f"one of url, model, {', '.join(sorted(types))}")
        need(
            _fits(value, types[key]),
            f"generation.{key}",
            f"{getattr(types[key], '__name__', types[key])}, got {value!r}",
        )
    try:
        RemoteGenerator(spec["url"], spec["model"], **options)
    except InvalidInputError as exc:
        raise ConfigError(f"recipe key 'generation': {exc.message}") from None


def _fits(value: Any, hint: Any) -> bool:
    """`value` is of the plain type `hint` (an int where a float goes; a bool is no
    number); a hint that is no plain type is left to the generator's own checks."""
    if not isinstance(hint, type):
        return True
    if isinstance(value, bool):
        return hint is bool
    return isinstance(value, int | float) if hint is float else isinstance(value, hint)


def remote_student(spec: dict[str, Any]) -> Any:
    """The `RemoteGenerator` a checked `generation` names."""
    from glore.backends.remote import RemoteGenerator

    options = {k: v for k, v in spec.items() if k not in ("url", "model")}
    return RemoteGenerator(spec["url"], spec["model"], **options)
