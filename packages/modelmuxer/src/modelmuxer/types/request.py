"""What a caller asks for: messages, generation parameters, identity, tags and routing options."""

from __future__ import annotations

import itertools
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelmuxer.types._checks import JsonObject, Text
from modelmuxer.types.messages import Message, ToolSpec

__all__ = [
    "CacheOptions",
    "GenerationParams",
    "Identity",
    "Request",
    "RoutingOptions",
    "ToolChoice",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)
#: Integer parameters travel as 64-bit integers (OpenAI's ``seed`` is one).
_INT64_MAX = 2**63 - 1

ToolChoice = Literal["auto", "none", "required"] | JsonObject


class _RequestIds:
    """Request ids: 32 hex digits, a random 64-bit prefix per process and a counter.

    As unique as ``uuid4().hex`` in practice (two processes share a prefix with a chance of
    2**-64) without a system call and an object per request. A forked child draws its own
    prefix, so forked workers never repeat their parent's ids.
    """

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


#: A new request id (what a :class:`Request` gets when none is given).
new_request_id = _RequestIds()


class Identity(BaseModel):
    """Who is asking: the end user, their organisation and project, and their role."""

    model_config = _FROZEN
    user: Text | None = None
    org: Text | None = None
    project: Text | None = None
    role: Text | None = None


class GenerationParams(BaseModel):
    """Generation parameters, passed to whichever model answers."""

    model_config = _FROZEN
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=_INT64_MAX)
    stop: list[Text] | None = None
    seed: int | None = Field(default=None, ge=-_INT64_MAX - 1, le=_INT64_MAX)
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = Field(
        default=None,
        description="whether the model may call several tools in one answer (sent only with "
        "tools; providers without the option refuse it)",
    )
    response_format: JsonObject | None = None
    timeout_s: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @property
    def wants_json(self) -> bool:
        """True when ``response_format`` asks for JSON (an object or a schema)."""
        fmt = self.response_format
        return bool(fmt) and fmt.get("type") in ("json_object", "json_schema")  # type: ignore[union-attr,operator]


class CacheOptions(BaseModel):
    """Per-call cache controls (``routing={"cache": {...}}``); they never widen the settings."""

    model_config = _FROZEN
    no_cache: bool = Field(default=False, description="do not serve this call from the cache")
    no_store: bool = Field(default=False, description="do not store this call's answer")
    semantic_threshold: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="raise the semantic similarity needed (a lower value than the setting's "
        "is ignored)",
    )


class RoutingOptions(BaseModel):
    """Per-call routing overrides. Unset fields use the muxer's settings."""

    model_config = _FROZEN
    strategy: Text | None = None
    model: Text | None = Field(default=None, description="pin this candidate: no routing")
    allow: frozenset[Text] | None = Field(default=None, description="only these model ids")
    deny: frozenset[Text] = frozenset()
    max_cost_usd: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    quality_target: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    cost_weight: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    cache: CacheOptions = Field(default_factory=CacheOptions, description="cache controls")


class Request(BaseModel):
    """One chat request.

    ``request_id`` is unique per request (generated when not given) and ties together every
    record of the calls the request makes.
    """

    model_config = _FROZEN
    messages: list[Message] = Field(min_length=1)
    params: GenerationParams = Field(default_factory=GenerationParams)
    identity: Identity = Field(default_factory=Identity)
    tags: frozenset[Text] = frozenset()
    metadata: dict[str, Any] = Field(default_factory=dict)
    routing: RoutingOptions = Field(default_factory=RoutingOptions)
    request_id: Text = Field(default_factory=new_request_id, min_length=1)

    @field_validator("messages")
    @classmethod
    def _last_message_answerable(cls, messages: list[Message]) -> list[Message]:
        if messages[-1].role == "assistant" and messages[-1].tool_calls:
            raise ValueError(
                "the last message is an assistant tool call: add the tool results "
                "(role 'tool') before asking for the next answer"
            )
        return messages

    @property
    def prompt_text(self) -> str:
        """All message text joined, for analysis."""
        return "\n".join(m.text for m in self.messages)
