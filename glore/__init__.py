"""GLoRe: when, where and how to refine an LLM's step-by-step reasoning."""

from glore.engine import Critique, EngineConfig, GLoRe, SolveResult
from glore.errors import (
    BackendError,
    ConfigError,
    DatasetError,
    GloreError,
    InvalidInputError,
    ModelNotFoundError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ConfigError",
    "Critique",
    "DatasetError",
    "EngineConfig",
    "GLoRe",
    "GloreError",
    "InvalidInputError",
    "ModelNotFoundError",
    "SolveResult",
    "__version__",
]
