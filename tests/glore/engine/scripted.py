"""Scripted backends for pipeline-logic tests: our own interfaces, answering from tables.

They stand in for trained models only where a test needs exact, hand-made scores; the
pipeline on real models is tested against model_store/default."""

from collections.abc import Callable, Sequence

from glore.backends.base import Completion, SamplingParams
from glore.formats import BAD_MARKER


class ScriptedGenerator:
    def __init__(self, answer: Callable[[str], str]) -> None:
        self.answer = answer
        self.prompts: list[str] = []
        self.params: list[SamplingParams] = []

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        self.prompts += prompts
        self.params.append(params)
        return [[Completion(self.answer(p), 5, "stop") for _ in range(params.n)] for p in prompts]


class ScriptedScorer:
    def __init__(self, values: Callable[[str, Sequence[str]], list[float]]) -> None:
        self.values = values

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        return [self.values(q, steps) for q, steps in items]


class FailingGenerator:
    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        raise ConnectionError("refiner is down")


def has_bad(prompt: str) -> bool:
    return BAD_MARKER in prompt
