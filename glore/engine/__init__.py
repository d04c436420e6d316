"""The when/where/how pipeline: strategies over the five models, and critique."""

from glore.engine.config import EngineConfig
from glore.engine.critique import Critique
from glore.engine.glore import GLoRe
from glore.engine.hooks import StageHook
from glore.engine.result import Candidate, SolveResult, StageCost
from glore.engine.steps import Models
from glore.engine.strategies import STRATEGIES

__all__ = [
    "STRATEGIES",
    "Candidate",
    "Critique",
    "EngineConfig",
    "GLoRe",
    "Models",
    "SolveResult",
    "StageCost",
    "StageHook",
]
