"""Tiny Llama models and their shared tokenizer, built from scratch for the task corpus."""

from glore.modeling.presets import (
    PRESETS,
    ModelPreset,
    get_preset,
    llama_config,
    new_causal_lm,
    new_token_classifier,
)
from glore.modeling.tokenizer import (
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    corpus_texts,
    save_tokenizer,
    train_tokenizer,
)

__all__ = [
    "BOS_TOKEN",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "PRESETS",
    "SPECIAL_TOKENS",
    "ModelPreset",
    "corpus_texts",
    "get_preset",
    "llama_config",
    "new_causal_lm",
    "new_token_classifier",
    "save_tokenizer",
    "train_tokenizer",
]
