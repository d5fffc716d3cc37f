"""Helpers the tests import by name (``from _support import ...``).

They live here, not in ``conftest.py``: several test folders have a ``conftest.py``, and when one
pytest run collects them all, ``import conftest`` resolves to whichever was loaded last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator

from modelmuxer import Muxer, hookimpl
from modelmuxer.backends import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.types import CallRecord, Completion

__all__ = ["OFFLINE_MODELS", "MakeMuxer", "PassThrough", "Recorder"]

#: Offline twins of real models: priced from litellm's price map, answered locally.
OFFLINE_MODELS: tuple[str, ...] = (
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-haiku-4-5",
)


class Recorder:
    """A plugin that remembers what the pipeline told it."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self.started: list[RequestContext] = []
        self.ended: list[tuple[Completion | None, BaseException | None]] = []

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        self.started.append(ctx)

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        self.records.append(record)

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        self.ended.append((completion, error))


class PassThrough:
    """A wrapper of the model call that does nothing. Registered beside the attempt spans of
    tracing, it makes the pipeline call the wrappers through pluggy (alone, the attempt spans
    are called directly: ``modelmuxer.plugins.direct_wrapper``)."""

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        return (yield)


MakeMuxer = Callable[..., Muxer]
