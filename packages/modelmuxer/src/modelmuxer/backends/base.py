"""The backend contract: how a model is called.

A backend is any object with a ``name``, ``claims``, ``price_alias``, ``complete`` and ``stream``.
Backends are registered through the ``modelmuxer_register_backends`` hook, built-in ones exactly
like third-party ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from modelmuxer.types import FinishReason, ModelCard, Request, ToolCall, ToolCallDelta, Usage

__all__ = ["Backend", "ModelCall", "ModelResponse", "StreamDelta"]


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One call to one model: the card, the request as the model should see it, a timeout."""

    card: ModelCard
    request: Request
    backend: Backend
    timeout_s: float
    attempt: int = 0
    stream: bool = False


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """What a backend returns for a non-streamed call."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)
    raw: Any = None


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """A piece of a streamed answer. The last delta carries ``usage`` and ``finish_reason``."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    usage: Usage | None = None
    finish_reason: FinishReason | None = None


@runtime_checkable
class Backend(Protocol):
    """Calls models. ``claims(model_id)`` says whether this backend answers for an id by default."""

    name: str

    def claims(self, model_id: str) -> bool:
        """True when this backend should serve ``model_id`` if the card names no backend."""
        ...

    def price_alias(self, model_id: str) -> str:
        """The id under which the model's prices and limits are looked up in the price map."""
        ...

    async def complete(self, call: ModelCall) -> ModelResponse:
        """Answer ``call``; raise :class:`~modelmuxer.errors.ProviderError` on failure."""
        ...

    def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        """Answer ``call`` as an async iterator of deltas; the last carries usage."""
        ...
