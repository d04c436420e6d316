"""Response bodies of the OpenAI-compatible routes, in openai-python's shapes
(`ChatCompletion`, `ChatCompletionChunk`, `Completion`, `Model`, the error object), each
with GLoRe's account in one extension field, `glore`, that OpenAI clients ignore."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.protocol import STAGES, SolveResponse

FinishReason = Literal["stop", "length"]


class GloreDetail(SolveResponse):
    """GLoRe's own account of the answer (the native SolveResponse), plus the draft's first
    error: where the SORM says the draft first goes wrong."""

    first_error: int | None = Field(description="The draft's first wrong step; null if none.")
    first_error_text: str | None


class TokenDetails(BaseModel):
    reasoning_tokens: int = Field(ge=0, description="Generated tokens not in the answer.")


class Usage(BaseModel):
    prompt_tokens: int = Field(ge=0, description="0: the engine does not count what it reads.")
    completion_tokens: int = Field(ge=0, description="Every token generated, all stages.")
    total_tokens: int = Field(ge=0)
    completion_tokens_details: TokenDetails


class StageChunk(BaseModel):
    stage: str = Field(description="One of " + ", ".join(STAGES) + ".", examples=["draft"])
    data: dict[str, Any] = Field(description="The stage's payload (final: a GloreDetail).")


class _Object(BaseModel):
    id: str
    created: int = Field(description="Unix seconds.")
    model: str
    system_fingerprint: str = Field(description="glore-VERSION.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(description="The winning solution.")


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(_Object):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]
    usage: Usage
    glore: GloreDetail


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(_Object):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChunkChoice]
    usage: Usage | None = None
    glore: StageChunk | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: FinishReason | None
    logprobs: None = None


class Completion(_Object):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]
    usage: Usage | None = None
    glore: GloreDetail


class CompletionChunk(_Object):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]
    usage: Usage | None = None
    glore: StageChunk | None = None


class ModelCard(BaseModel):
    id: str = Field(examples=["glore"])
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "glore"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(description="The request field at fault, when one is.")
    code: str | None = Field(description="The problem type's name, e.g. invalid_request.")


class ErrorResponse(BaseModel):
    """OpenAI's error shape: the message is the one problem+json carries elsewhere."""

    error: ErrorDetail
