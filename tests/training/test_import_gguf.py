"""`glore models import-gguf`: a tiny Llama written as GGUF with the `gguf` package comes
back as a plain Hugging Face folder that computes the same logits, tokenizes the same, and
is a valid `model.base` for a recipe."""

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from glore.cli import app
from glore.errors import ConfigError
from tests.training.tiny_models import causal_lm, tokenizer, write_gguf
from training.gguf_import import import_gguf
from training.recipe import load_recipe

pytest.importorskip("gguf", reason="the gguf package (training extra) writes the test's file")

TEXTS = ["Tom has 2 apples and buys 3 more. How many apples?", "2+3=<<2+3=5>>5\n#### 5"] * 40


@pytest.fixture
def gguf_file(tmp_path: Path) -> tuple[Path, torch.nn.Module, object]:
    tok = tokenizer(TEXTS, 300)
    model = causal_lm("llama", len(tok))
    path = tmp_path / "tiny.gguf"
    write_gguf(path, model, tok)
    return path, model, tok


def test_import_gives_a_plain_folder_with_the_same_model(
    gguf_file: tuple[Path, torch.nn.Module, object], tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, original, tok = gguf_file
    out = tmp_path / "hf"
    result = CliRunner().invoke(app, ["models", "import-gguf", str(path), str(out)])
    assert result.exit_code == 0, result.output
    assert '"architecture": "LlamaForCausalLM"' in result.output
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    config = (out / "config.json").read_text()
    assert "quantization_config" not in config  # what made save_pretrained refuse
    imported = AutoModelForCausalLM.from_pretrained(out)
    text = TEXTS[0]
    assert AutoTokenizer.from_pretrained(out)(text).input_ids == tok(text).input_ids  # type: ignore[operator]
    ids = torch.tensor([tok(text).input_ids])  # type: ignore[operator]
    with torch.no_grad():
        assert torch.allclose(imported(ids).logits, original(ids).logits, atol=1e-5)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{base: {out}}}\n")
    assert load_recipe(recipe).model.base == str(out)


def test_import_refuses_a_missing_file_and_a_used_folder(
    gguf_file: tuple[Path, torch.nn.Module, object], tmp_path: Path
) -> None:
    path, _, _ = gguf_file
    with pytest.raises(ConfigError, match="does not exist"):
        import_gguf(tmp_path / "nope.gguf", tmp_path / "a")
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="is not empty"):
        import_gguf(path, used)
    with pytest.raises(ConfigError, match="dtype 'int4'"):
        import_gguf(path, tmp_path / "b", dtype="int4")
