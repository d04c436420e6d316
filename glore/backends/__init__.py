"""Generation and scoring backends: embedded transformers models, remote vLLM servers."""

from glore.backends.base import Completion, FinishReason, Generator, SamplingParams, StepScorer

__all__ = ["Completion", "FinishReason", "Generator", "SamplingParams", "StepScorer"]
