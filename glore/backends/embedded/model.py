"""What the embedded backends share: a Hugging Face model in this process, loaded from a
folder. How concurrent calls share the model is each backend's own: the generator's
continuous-batching scheduler, the scorer's micro-batcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from glore.errors import ConfigError, ModelNotFoundError


def _pick_device(device: str | None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """`None`/"auto": float32 on a CPU, bfloat16 on an accelerator. Stored weights are fp16
    to stay small; most CPUs compute fp16 slowly, so they upcast. A CPU with bf16 matrix
    units (AMX) runs "bfloat16" about twice as fast; it is opt-in so results do not depend
    on which CPU ran them."""
    if dtype in (None, "auto"):
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; dtypes: auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
"""Files of which a model folder's tokenizer needs one (fast, SentencePiece, or BPE)."""


def load_hf(
    auto: Any, path: str | Path, device: str | None, dtype: str | None = None
) -> tuple[Any, Any]:
    """A model (through `auto`, an `AutoModel...` class) and its tokenizer from a folder."""
    from transformers import AutoTokenizer

    if not (Path(path) / "config.json").is_file():
        raise ModelNotFoundError(f"no Hugging Face model at {path} (config.json missing)")
    if not any((Path(path) / name).is_file() for name in TOKENIZER_FILES):
        raise ModelNotFoundError(
            f"no tokenizer at {path}: a model folder needs one of {', '.join(TOKENIZER_FILES)} "
            "beside config.json (a training checkpoint has none: copy the run's tokenizer in)"
        )
    dev = _pick_device(device)
    model: Any = auto.from_pretrained(path, dtype=pick_dtype(dtype, dev))
    return model.to(dev), AutoTokenizer.from_pretrained(path)


class LocalModel:
    """A local model: at most `max_batch_size` rows in one pass; `max_wait_ms` is how long
    a backend that merges concurrent calls waits for company."""

    auto_class: ClassVar[str]
    """The `transformers` Auto class that loads this kind of model."""

    def __init__(
        self, model: Any, tokenizer: Any, *, max_batch_size: int = 64, max_wait_ms: float = 5.0
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        dtype: str | None = None,
        **options: Any,
    ) -> Self:
        """`options` go to the class's constructor (for a scorer, its batch token budget
        and prefix cache size). The model loads on the compute lane, which runs all its work
        (`glore.backends.embedded.lane` says why one thread)."""
        import transformers

        from glore.backends.embedded.lane import LANE

        auto = getattr(transformers, cls.auto_class)
        return LANE.call(
            lambda: cls(
                *load_hf(auto, path, device, dtype),
                max_batch_size=max_batch_size,
                max_wait_ms=max_wait_ms,
                **options,
            )
        )
