"""Embedded backends: transformers models in this process, as the remote package serves
them over HTTP. `model` loads a model folder; `generator` answers generate calls through
one continuous-batching scheduler per model (`scheduler`: rows join and leave the running
decode, over a KV cache of rows with their own lengths, `slots`, each row sampling its own
keyed draws, `sampling`); `decode` is the fixed-batch lean decode loop it replaced (kept
for `glore bench engine`'s baseline and decode-speed parts); `scorer` scores step prefixes
through the micro-batcher (`batcher`) under a token budget with a prefix cache (`prefix_cache`),
and `likelihood` does the same for a verifier made of a causal LM's likelihood (`scorers`
says which a folder holds); `context` says how many tokens a model reads; `lane` is the one
thread every model loads and runs on."""

from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.likelihood import LikelihoodHead, LikelihoodScorer
from glore.backends.embedded.model import LocalModel
from glore.backends.embedded.scorer import EmbeddedScorer
from glore.backends.embedded.scorers import open_scorer, scorer_class

__all__ = [
    "EmbeddedGenerator",
    "EmbeddedScorer",
    "LikelihoodHead",
    "LikelihoodScorer",
    "LocalModel",
    "open_scorer",
    "scorer_class",
]
