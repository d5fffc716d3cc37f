"""Helpers the tests import by name (``from _support import ...``).

They live here, not in ``conftest.py``: several test folders have a ``conftest.py``, and when one
pytest run collects them all, ``import conftest`` resolves to whichever was loaded last.
"""

from __future__ import annotations

from collections.abc import Callable

from modelmuxer import Muxer, hookimpl
from modelmuxer.context import RequestContext
from modelmuxer.types import CallRecord, Completion

__all__ = ["OFFLINE_MODELS", "MakeMuxer", "Recorder"]

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


MakeMuxer = Callable[..., Muxer]
