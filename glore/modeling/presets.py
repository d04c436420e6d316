"""Size presets for the tiny Llama models trained from scratch on CPU.

All five roles share one architecture family: `LlamaForCausalLM` for the student and the
refiners, `LlamaForTokenClassification` with one logit for the ORM and the SORM. Input
and output embeddings are tied; there is no grouped-query attention; RoPE is default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForTokenClassification

from glore.errors import ConfigError

_MAX_HIDDEN = 4096
_MAX_LAYERS = 64
_MAX_POSITIONS = 32768


@dataclass(frozen=True)
class ModelPreset:
    """The shape of a tiny Llama model. Invalid shapes raise `ConfigError`."""

    name: str
    """Preset name, as the CLI and recipes spell it (non-empty)."""

    hidden_size: int = 128
    """Width of the residual stream; default 128, bounds [8, 4096], a multiple of
    `num_heads` with an even head size (RoPE rotates pairs of dimensions)."""

    num_layers: int = 4
    """Number of decoder layers; default 4, bounds [1, 64]."""

    num_heads: int = 4
    """Attention heads (as many key/value heads: no grouped-query attention);
    default 4, bounds [1, hidden_size / 2]."""

    intermediate_size: int = 352
    """Width of the SwiGLU MLP; default 352 (about 8/3 of the default hidden size),
    bounds [1, 4 * 4096]."""

    max_position_embeddings: int = 1024
    """Longest sequence, prompt and completion together, in tokens; default 1024,
    bounds [16, 32768]. RoPE has no position parameters, so this costs nothing."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a model preset needs a name")
        checks = [
            ("hidden_size", self.hidden_size, 8, _MAX_HIDDEN),
            ("num_layers", self.num_layers, 1, _MAX_LAYERS),
            ("num_heads", self.num_heads, 1, max(1, self.hidden_size // 2)),
            ("intermediate_size", self.intermediate_size, 1, 4 * _MAX_HIDDEN),
            ("max_position_embeddings", self.max_position_embeddings, 16, _MAX_POSITIONS),
        ]
        for field_name, value, low, high in checks:
            if not low <= value <= high:
                raise ConfigError(
                    f"preset {self.name!r}: {field_name} must be in [{low}, {high}], got {value}"
                )
        head_size, remainder = divmod(self.hidden_size, self.num_heads)
        if remainder or head_size % 2:
            raise ConfigError(
                f"preset {self.name!r}: hidden_size {self.hidden_size} must split into "
                f"{self.num_heads} heads of an even size"
            )


# Parameter counts measured with a 512-token vocabulary (tied embeddings; the token
# classifier adds hidden_size + 1 for its score head). Intermediate sizes are about 8/3
# of the hidden size, rounded up to a multiple of 32, as in Llama.
PRESETS: dict[str, ModelPreset] = {
    # 381,600 parameters (~0.38M)
    "nano": ModelPreset("nano", hidden_size=96, num_layers=3, num_heads=4, intermediate_size=256),
    # 869,504 parameters (~0.87M)
    "micro": ModelPreset(
        "micro", hidden_size=128, num_layers=4, num_heads=4, intermediate_size=352
    ),
    # 1,869,504 parameters (~1.9M)
    "tiny": ModelPreset("tiny", hidden_size=192, num_layers=4, num_heads=4, intermediate_size=512),
    # 4,951,296 parameters (~5.0M)
    "small": ModelPreset(
        "small", hidden_size=256, num_layers=6, num_heads=8, intermediate_size=704
    ),
}


def get_preset(preset: str | ModelPreset) -> ModelPreset:
    """The preset called `preset` (or `preset` itself); `ConfigError` for an unknown name."""
    if isinstance(preset, ModelPreset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ConfigError(f"unknown model preset {preset!r}; known presets: {known}") from None


def _token_id(tokenizer: Any, attribute: str) -> int:
    value = getattr(tokenizer, attribute, None)
    if not isinstance(value, int):
        raise ConfigError(f"the tokenizer has no {attribute.removesuffix('_id')}")
    return value


def llama_config(preset: str | ModelPreset, tokenizer: Any, **overrides: Any) -> LlamaConfig:
    """A `LlamaConfig` of `preset`'s shape for `tokenizer`'s vocabulary and special tokens.

    `overrides` are further `LlamaConfig` fields (`num_labels`, `classifier_dropout`...).
    """
    shape = get_preset(preset)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads,
        max_position_embeddings=shape.max_position_embeddings,
        pad_token_id=_token_id(tokenizer, "pad_token_id"),
        bos_token_id=_token_id(tokenizer, "bos_token_id"),
        eos_token_id=_token_id(tokenizer, "eos_token_id"),
        tie_word_embeddings=True,
        **overrides,
    )


def new_causal_lm(preset: str | ModelPreset, tokenizer: Any, seed: int) -> LlamaForCausalLM:
    """A freshly initialised causal LM (student, global or local refiner).

    The weights depend only on `seed`; the global torch random state is left untouched.
    """
    config = llama_config(preset, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def new_token_classifier(
    preset: str | ModelPreset, tokenizer: Any, seed: int, *, dropout: float = 0.0
) -> LlamaForTokenClassification:
    """A freshly initialised one-logit token classifier (ORM or SORM).

    `logits[b, t, 0]` is the score after token t. `dropout` (default 0.0; transformers
    would use 0.1) applies to the last hidden state before the score head in training.
    Never pass `labels` to it: its built-in loss is a multi-class cross-entropy, which
    fails on float labels and means nothing with one logit. Train with a binary
    cross-entropy on `logits[..., 0]` at the step-end tokens instead.
    """
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    config = llama_config(preset, tokenizer, num_labels=1, classifier_dropout=dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        build: Any = LlamaForTokenClassification  # untyped in transformers 5
        model: LlamaForTokenClassification = build(config)
        return model
