"""Request bodies of the OpenAI-compatible routes, as openai-python sends them (responses:
`service.openai_objects`).

`model` names a strategy (`MODELS`). The request body is one of two shapes told apart by
`model`: the greedy models, which take no temperature but 0, and `best-of-n`, which
samples. A parameter GLoRe cannot honour is declared with the only value it honours, so a
request that sets it otherwise is refused (400) saying why, rather than silently ignored;
a parameter not declared here is refused as an unknown field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from service.protocol import StrategyName

GreedyModel = Literal[
    "glore", "glore-gated", "glore-vote", "greedy", "global", "local", "local-orm", "multi-round"
]
SampledModel = Literal["best-of-n"]

MODELS: dict[str, tuple[StrategyName, dict[str, Any]]] = {
    "glore": ("glore", {"mode": "always"}),
    "glore-gated": ("glore", {"mode": "gated"}),
    "glore-vote": ("glore_vote", {}),
    "greedy": ("greedy", {}),
    "best-of-n": ("best_of_n", {}),
    "global": ("global", {}),
    "local": ("local", {}),
    "local-orm": ("local_orm", {}),
    "multi-round": ("multi_round", {}),
    "repair": ("repair", {}),
    "glore-repair": ("glore_repair", {"where": "checked"}),
}
"""Each model name: the engine strategy it runs, and the options it fixes."""


@dataclass(frozen=True)
class Only:
    """A parameter GLoRe honours only at `value` (or null), or, with `schema` None, not at
    all (only null): any other value is refused with `why`."""

    value: Any
    why: str
    schema: dict[str, Any] | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, _: Any, handler: GetJsonSchemaHandler) -> Any:
        return {"type": "null"} if self.schema is None else {"anyOf": [self.schema, NULL]}

    def _check(self, given: Any) -> Any:
        if given is not None and given != self.value:
            raise PydanticCustomError("unsupported", self.why)
        return given


NULL = {"type": "null"}
_N = Only(1, "GLoRe answers with one solution, the winner: n must be 1", {"const": 1})
_TOP_P = Only(1, "GLoRe does not sample from the nucleus: top_p must be 1", {"const": 1})
_NO_PENALTY = Only(0, "GLoRe applies no penalties: this must be 0", {"const": 0})
_LOGPROBS = Only(
    False, "GLoRe returns no log probabilities: logprobs must be false", {"const": False}
)
_STOP = Only(None, "GLoRe cannot honour stop sequences: a solution ends at its '#### answer' line")
_GREEDY_T = Only(
    0, "this model decodes greedily: temperature must be 0 (best-of-n samples)", {"const": 0}
)
_GREEDY_BEST_OF = Only(1, "only best-of-n samples: best_of must be 1 for this model", {"const": 1})
_ECHO = Only(False, "GLoRe does not echo the prompt: echo must be false", {"const": False})
_SUFFIX = Only(None, "GLoRe cannot insert text: leave suffix out")


_INTS = {"max_tokens", "max_completion_tokens", "seed", "n", "best_of"}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_usage: bool = Field(False, description="End with a chunk holding `usage`.")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    max_tokens: int | None = Field(
        None, ge=1, description="Most new tokens per generated solution "
        "(every stage's); at most GLORE_MAX_TOKENS (default 256)."
    )  # fmt: skip
    seed: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Seed of best-of-n's samples; greedy models "
        "are deterministic whatever it is."
    )  # fmt: skip
    n: Annotated[int | None, _N] = Field(None, description="Choices: 1, the winner.")
    top_p: Annotated[float | None, _TOP_P] = None
    frequency_penalty: Annotated[float | None, _NO_PENALTY] = None
    presence_penalty: Annotated[float | None, _NO_PENALTY] = None
    logprobs: Annotated[bool | None, _LOGPROBS] = None
    stop: Annotated[str | list[str] | None, _STOP] = None
    stream: bool = Field(
        False, description="Server-sent chunks: stage chunks as the pipeline runs, then the "
        "winning solution, then `data: [DONE]`."
    )  # fmt: skip
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256, description="Accepted; not used.")

    @model_validator(mode="before")
    @classmethod
    def _integral(cls, data: Any) -> Any:
        """JSON Schema counts 39.0 as an integer; so does the API (as `SolveOptions` does)."""
        if not isinstance(data, dict):
            return data
        ints = _INTS & set(data)
        return {k: int(v) if k in ints and isinstance(v, float) and v.is_integer() else v
                for k, v in data.items()}  # fmt: skip

    def engine_options(self) -> dict[str, Any]:
        """The engine options this request sets (before the server's defaults and limits)."""
        caps = [t for t in self._token_caps() if t is not None]
        out: dict[str, Any] = {"max_tokens": min(caps)} if caps else {}
        if self.seed is not None:
            out["seed"] = self.seed
        return out | self._sampling()

    def _token_caps(self) -> list[int | None]:
        return [self.max_tokens]

    def _sampling(self) -> dict[str, Any]:
        return {}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(
        min_length=1,
        description="Text; at most GLORE_MAX_QUESTION_CHARS characters (default 2000).",
    )
    name: str | None = Field(None, max_length=256)


_USER: dict[str, Any] = {
    "type": "object",
    "properties": {"role": {"const": "user"}},
    "required": ["role"],
}


class _ChatRequest(_Request):
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=64,
        description="The question is the last user message; the others are not read.",
        json_schema_extra={"contains": _USER},
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="As max_tokens; with both, the smaller."
    )

    def _token_caps(self) -> list[int | None]:
        return [self.max_tokens, self.max_completion_tokens]


class ChatGreedyRequest(_ChatRequest):
    model: GreedyModel = Field(description="The strategy: see GET /v1/models.")
    temperature: Annotated[float | None, _GREEDY_T] = None


class ChatBestOfRequest(_ChatRequest):
    model: SampledModel
    temperature: float | None = Field(None, gt=0, le=2, description="Of the samples (1.0).")

    def _sampling(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}


class _CompletionRequest(_Request):
    prompt: str = Field(
        min_length=1,
        description="The question; at most GLORE_MAX_QUESTION_CHARS characters (default 2000).",
    )
    echo: Annotated[bool | None, _ECHO] = None
    suffix: Annotated[str | None, _SUFFIX] = None


class CompletionGreedyRequest(_CompletionRequest):
    model: GreedyModel = Field(description="The strategy: see GET /v1/models.")
    temperature: Annotated[float | None, _GREEDY_T] = None
    best_of: Annotated[int | None, _GREEDY_BEST_OF] = None


class CompletionBestOfRequest(_CompletionRequest):
    model: SampledModel
    temperature: float | None = Field(None, gt=0, le=2, description="Of the samples (1.0).")
    best_of: int | None = Field(None, ge=1, le=64, description="Samples the ORM reranks (3).")

    def _sampling(self) -> dict[str, Any]:
        given = {"temperature": self.temperature, "best_of": self.best_of}
        return {k: v for k, v in given.items() if v is not None}


ChatCompletionRequest = Annotated[
    ChatGreedyRequest | ChatBestOfRequest, Field(discriminator="model")
]
CompletionRequest = Annotated[
    CompletionGreedyRequest | CompletionBestOfRequest, Field(discriminator="model")
]
