"""Embedded backends: transformers models in this process, as the remote package serves
them over HTTP. `model` loads a model folder; `generator` answers generate calls through
the micro-batcher (`batcher`) and the lean decode loop with a reserved KV cache (`decode`);
`scorer` scores step prefixes under a token budget with a prefix cache (`prefix_cache`);
`context` says how many tokens a model reads."""

from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.model import LocalModel
from glore.backends.embedded.scorer import EmbeddedScorer

__all__ = ["EmbeddedGenerator", "EmbeddedScorer", "LocalModel"]
