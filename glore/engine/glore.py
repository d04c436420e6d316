"""`GLoRe`: the library's front door. Solve, solve in batches, critique; sync and async."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from glore.backends.sync import run_sync
from glore.engine.config import EngineConfig
from glore.engine.critique import Critique, critique
from glore.engine.hooks import StageHook, emit
from glore.engine.result import SolveResult
from glore.engine.rules import abstains
from glore.engine.steps import Models
from glore.engine.strategies import get_strategy
from glore.errors import InvalidInputError

if TYPE_CHECKING:
    from glore.engine.loading import GreedyEngine

T = TypeVar("T")


def _mark_abstention(result: SolveResult, threshold: float) -> None:
    score = result.candidate(result.winner).orm_score or 0.0
    if abstains(score, threshold):
        result.abstain = True
        result.abstain_reason = (
            f"the ORM gives the chosen answer {score:.2f}, below the abstention threshold "
            f"{threshold:.2f}: the models are unsure of it"
        )


class GLoRe:
    """Draft, decide when and where to refine, refine globally and locally, rerank."""

    def __init__(self, models: Models, config: EngineConfig | None = None) -> None:
        self.models = models
        self.config = config or EngineConfig()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str | None = None,
        config: EngineConfig | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        dtype: str | None = None,
        scorer_dtype: str | None = None,
        greedy_engine: GreedyEngine = "auto",
    ) -> GLoRe:
        """Load a model store folder (`student/`, `orm/`, `sorm/`, `global/`, `local/`), or a
        spec file naming each role's local folder or vLLM server (`glore.engine.loading`).
        `dtype` / `scorer_dtype`: compute precision of the local generators / scorers
        ("auto", "float32", "bfloat16", "float16"; auto is float32 on a CPU).
        `greedy_engine`: what runs the local generators' greedy calls (every stage of
        `glore`): "ct2", CTranslate2 on a CPU (the `ct2` extra; sampled calls stay on
        torch: `glore.backends.ct2`); "torch", the reference; "auto" (default), ct2 where
        the extra is installed and the generator is on a CPU, else torch."""
        from glore.engine.loading import load_models

        models = load_models(
            path,
            device=device,
            batch=max_batch_size,
            wait_ms=max_wait_ms,
            dtype=dtype,
            scorer_dtype=scorer_dtype,
            greedy_engine=greedy_engine,
        )
        return cls(models, config)

    def _config(self, options: dict[str, Any]) -> EngineConfig:
        fields = {f.name for f in dataclasses.fields(EngineConfig)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise InvalidInputError(
                f"unknown options {unknown}; options: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(self.config, **options) if options else self.config

    def _check(self, questions: Sequence[str], cfg: EngineConfig) -> None:
        if not questions:
            raise InvalidInputError("no questions given; pass at least one")
        for q in questions:
            if not isinstance(q, str) or not q.strip():
                raise InvalidInputError("a question must be non-empty text")
            if len(q) > cfg.max_question_chars:
                raise InvalidInputError(
                    f"question of {len(q)} characters; at most {cfg.max_question_chars} allowed"
                )

    async def asolve_batch(
        self,
        questions: Sequence[str],
        strategy: str = "glore",
        *,
        on_stage: StageHook | None = None,
        **options: Any,
    ) -> list[SolveResult]:
        """Solve every question in one batch. `on_stage(stage, payload)` (sync or async) is
        called as each stage finishes, then with `final` per question (`glore.engine.hooks`)."""
        cfg = self._config(options)
        run = get_strategy(strategy)
        self._check(questions, cfg)
        results = await run(self.models, list(questions), cfg, on_stage)
        threshold = self.models.abstention(cfg.abstain_below)
        for i, result in enumerate(results):
            _mark_abstention(result, threshold)
            await emit(on_stage, "final", {"index": i, "result": result.to_json()})
        return results

    async def asolve(
        self,
        question: str,
        strategy: str = "glore",
        *,
        on_stage: StageHook | None = None,
        **options: Any,
    ) -> SolveResult:
        return (await self.asolve_batch([question], strategy, on_stage=on_stage, **options))[0]

    def solve_batch(
        self, questions: Sequence[str], strategy: str = "glore", **options: Any
    ) -> list[SolveResult]:
        return run_sync(self.asolve_batch(questions, strategy, **options))

    def solve(self, question: str, strategy: str = "glore", **options: Any) -> SolveResult:
        return run_sync(self.asolve(question, strategy, **options))

    async def acritique(
        self, question: str, solution: str, reveal: str = "full", **options: Any
    ) -> Critique:
        """Where `solution` (anyone's working) first goes wrong, and a local correction as
        far as `reveal` allows (`location`, `step` or `full`)."""
        cfg = self._config(options)
        self._check([question], cfg)
        return await critique(self.models, question, solution, reveal, cfg)

    def critique(
        self, question: str, solution: str, reveal: str = "full", **options: Any
    ) -> Critique:
        return run_sync(self.acritique(question, solution, reveal, **options))
