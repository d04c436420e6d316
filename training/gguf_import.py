"""`glore models import-gguf FILE OUT`: a GGUF checkpoint as a plain Hugging Face folder
(safetensors, config.json, tokenizer) that a recipe's `model.base` can name.

transformers reads a GGUF file (dequantizing its tensors) but will not save what it
loaded: the model carries a gguf `quantization_config` and `save_pretrained` refuses ("The
model is quantized with gguf and is not serializable"). So the weights are moved into a
model built from the same config without that entry, and that model is saved.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from glore.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def import_gguf(gguf: Path, out: Path, dtype: str = "float32") -> dict[str, Any]:
    """Write `out/` from `gguf`; -> what was written (architecture, parameters, vocab)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if not gguf.is_file():
        raise ConfigError(f"GGUF file {gguf} does not exist")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r}: must be one of {', '.join(DTYPES)}")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new folder")
    if importlib.util.find_spec("gguf") is None:  # transformers reads the file through it
        raise ConfigError("import-gguf needs the gguf package: pip install -e '.[training]'")
    folder, name = str(gguf.parent), gguf.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=DTYPES[dtype])
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # what makes save_pretrained refuse
    build: Any = AutoModelForCausalLM.from_config
    model = build(config, dtype=DTYPES[dtype])
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = (
        {k for k in missing if k.endswith("lm_head.weight")}
        if config.tie_word_embeddings
        else set()
    )
    if set(missing) - tied or unexpected:
        raise ConfigError(
            f"{gguf}: weights do not fit the rebuilt {config.model_type} model "
            f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    model.tie_weights()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab": len(tokenizer),
        "dtype": dtype,
        "out": str(out),
    }
