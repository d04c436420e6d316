"""Model size presets: shapes, parameter counts, forward passes and save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

from glore.errors import ConfigError
from glore.formats import scorer_prompt, step_end_tokens, student_prompt
from glore.modeling import (
    PRESETS,
    ModelPreset,
    get_preset,
    llama_config,
    new_causal_lm,
    new_token_classifier,
    train_tokenizer,
)

# Exact parameter counts with a 512-token vocabulary (as in presets.py), and the band
# each preset promises.
EXPECTED_PARAMS = {
    "nano": (381_600, 0.3e6, 0.45e6),
    "micro": (869_504, 0.8e6, 1.0e6),
    "tiny": (1_869_504, 1.7e6, 2.1e6),
    "small": (4_951_296, 4.5e6, 6.5e6),
}


class _Vocab512:
    """The parts of a tokenizer `llama_config` reads, with a 512-token vocabulary."""

    pad_token_id = 0
    bos_token_id = 1
    eos_token_id = 2

    def __len__(self) -> int:
        return 512


@pytest.fixture(scope="session")
def tok() -> Any:
    texts = [
        "Question: Tom has 48 apples. He gives half away. How many are left?\nAnswer:\n"
        "He gives 48/2 = <<48/2=24>>24 apples.\nHe has 48 - 24 = <<48-24=24>>24 left.\n#### 24"
    ] * 20
    return train_tokenizer(texts, vocab_size=320)


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_presets_are_named_by_their_keys() -> None:
    assert set(PRESETS) == set(EXPECTED_PARAMS)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert get_preset(name) is preset
        assert get_preset(preset) is preset


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_parameter_counts(name: str) -> None:
    expected, low, high = EXPECTED_PARAMS[name]
    preset = PRESETS[name]
    lm = new_causal_lm(name, _Vocab512(), seed=0)
    classifier = new_token_classifier(name, _Vocab512(), seed=0)
    assert _n_params(lm) == expected
    assert low <= expected <= high
    assert _n_params(classifier) == expected + preset.hidden_size + 1  # the score head
    assert lm.get_output_embeddings().weight is lm.get_input_embeddings().weight


def test_config_follows_preset_and_tokenizer(tok: Any) -> None:
    preset = PRESETS["micro"]
    config = llama_config("micro", tok)
    assert config.vocab_size == len(tok)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (
        tok.pad_token_id,
        tok.bos_token_id,
        tok.eos_token_id,
    )
    assert config.hidden_size == preset.hidden_size
    assert config.num_hidden_layers == preset.num_layers
    assert config.num_attention_heads == config.num_key_value_heads == preset.num_heads
    assert config.intermediate_size == preset.intermediate_size
    assert config.max_position_embeddings == preset.max_position_embeddings
    assert config.tie_word_embeddings is True


def _batch(tok: Any) -> dict[str, torch.Tensor]:
    texts = [student_prompt("Tom has 48 apples.").text, "He gives 24"]
    return dict(tok(texts, padding=True, return_tensors="pt"))


@pytest.mark.parametrize("name", list(PRESETS))
def test_forward_shapes(tok: Any, name: str) -> None:
    batch = _batch(tok)
    n, length = batch["input_ids"].shape
    lm = new_causal_lm(name, tok, seed=0).eval()
    classifier = new_token_classifier(name, tok, seed=0).eval()
    with torch.no_grad():
        assert lm(**batch).logits.shape == (n, length, len(tok))
        assert classifier(**batch).logits.shape == (n, length, 1)


def test_step_end_scores_from_the_classifier(tok: Any) -> None:
    prompt = scorer_prompt("Tom has 48 apples.", ["He gives 48/2 = 24.", "#### 24"])
    encoded = step_end_tokens(tok, prompt)
    classifier = new_token_classifier("nano", tok, seed=0).eval()
    with torch.no_grad():
        logits = classifier(input_ids=torch.tensor([encoded.input_ids])).logits
    scores = torch.sigmoid(logits[0, encoded.step_ends, 0])
    assert scores.shape == (2,)


def test_generation_with_left_padding(tok: Any) -> None:
    lm = new_causal_lm("nano", tok, seed=0).eval()
    batch = _batch(tok)
    out = lm.generate(**batch, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[0] == 2
    assert out.shape[1] <= batch["input_ids"].shape[1] + 4


def test_seed_fixes_weights_and_spares_global_rng(tok: Any) -> None:
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a = new_causal_lm("nano", tok, seed=7)
    b = new_causal_lm("nano", tok, seed=7)
    c = new_causal_lm("nano", tok, seed=8)
    assert torch.equal(torch.rand(3), expected_draw)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    x = new_token_classifier("nano", tok, seed=7)
    y = new_token_classifier("nano", tok, seed=7)
    assert torch.equal(x.score.weight, y.score.weight)


def test_causal_lm_save_and_load(tok: Any, tmp_path: Path) -> None:
    lm = new_causal_lm("nano", tok, seed=0).eval()
    lm.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(lm)
    assert loaded.get_output_embeddings().weight is loaded.get_input_embeddings().weight
    batch = _batch(tok)
    with torch.no_grad():
        assert torch.equal(lm(**batch).logits, loaded(**batch).logits)


def test_token_classifier_save_and_load(tok: Any, tmp_path: Path) -> None:
    classifier = new_token_classifier("nano", tok, seed=0).eval()
    classifier.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModelForTokenClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(classifier)
    assert loaded.config.num_labels == 1
    batch = _batch(tok)
    with torch.no_grad():
        assert torch.equal(classifier(**batch).logits, loaded(**batch).logits)


def test_classifier_dropout_defaults_to_zero(tok: Any) -> None:
    assert new_token_classifier("nano", tok, seed=0).dropout.p == 0.0
    assert new_token_classifier("nano", tok, seed=0, dropout=0.1).dropout.p == 0.1
    with pytest.raises(ConfigError):
        new_token_classifier("nano", tok, seed=0, dropout=1.0)


def test_unknown_preset_lists_the_known_ones(tok: Any) -> None:
    with pytest.raises(ConfigError) as info:
        new_causal_lm("huge", tok, seed=0)
    assert "huge" in str(info.value)
    for name in PRESETS:
        assert name in str(info.value)
    with pytest.raises(ConfigError):
        llama_config("huge", tok)


def test_custom_preset(tok: Any) -> None:
    preset = ModelPreset("custom", hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    lm = new_causal_lm(preset, tok, seed=0)
    assert lm.config.hidden_size == 32


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"name": "x", "hidden_size": 100, "num_heads": 3},  # not divisible
        {"name": "x", "hidden_size": 96, "num_heads": 32},  # odd head size
        {"name": "x", "num_layers": 0},
        {"name": "x", "intermediate_size": 0},
        {"name": "x", "max_position_embeddings": 8},
    ],
)
def test_invalid_presets(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ModelPreset(**kwargs)
