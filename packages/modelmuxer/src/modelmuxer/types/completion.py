"""What a call returns: the answer, its usage and cost, and how it was routed."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelmuxer.types.decision import Decision
from modelmuxer.types.messages import Message, ToolCall
from modelmuxer.types.records import CacheStatus
from modelmuxer.types.usage import Usage

__all__ = ["Attempt", "Completion", "FinishReason", "StreamChunk", "ToolCallDelta"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Attempt(BaseModel):
    """One model call made while answering a request (a cascade makes several)."""

    model_config = _FROZEN
    model: str
    outcome: Literal["accepted", "escalated", "failed"]
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    judge_score: float | None = None
    error: str | None = None


class Completion(BaseModel):
    """The answer to a request.

    ``cost_usd`` is the cost of *every* attempt (a cascade pays for the answers it rejected);
    ``usage`` is the usage of the answer returned; ``attempts`` lists every call made.
    """

    model_config = _FROZEN
    request_id: str
    text: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: FinishReason
    usage: Usage
    cost_usd: float = Field(ge=0.0)
    model: str
    provider: str
    decision: Decision
    attempts: list[Attempt] = Field(default_factory=list)
    latency_s: float = 0.0
    cache: CacheStatus = "off"
    saved_usd: float = Field(default=0.0, ge=0.0)

    def to_message(self) -> Message:
        """The answer as an assistant message, to append to the conversation."""
        return Message(
            role="assistant", content=self.text or None, tool_calls=self.tool_calls or None
        )


class ToolCallDelta(BaseModel):
    """A piece of a streamed tool call (OpenAI delta shape)."""

    model_config = _FROZEN
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StreamChunk(BaseModel):
    """A streamed piece of the answer.

    Content chunks carry ``text`` and/or ``tool_calls``; the last chunk carries ``completion``
    (the assembled answer with usage and cost) and nothing else.
    """

    model_config = _FROZEN
    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    model: str
    completion: Completion | None = None
