"""Shared fixtures: entry-point plugins off, offline models, muxers, a recording plugin."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from modelmuxer import Muxer, hookimpl
from modelmuxer.catalog import ModelLike
from modelmuxer.context import RequestContext
from modelmuxer.plugins import DISABLE_AUTOLOAD_ENV
from modelmuxer.types import CallRecord, Completion

#: Offline twins of real models: priced from litellm's price map, answered locally.
OFFLINE_MODELS: tuple[str, ...] = (
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-haiku-4-5",
)


def pytest_configure(config: pytest.Config) -> None:
    # Installed third-party plugins must not change what the suite sees (pytest does the same).
    os.environ[DISABLE_AUTOLOAD_ENV] = "1"


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


@pytest.fixture
def offline_models() -> list[str]:
    return list(OFFLINE_MODELS)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_muxer() -> Iterator[MakeMuxer]:
    """Builds muxers (offline models, no entry points by default) and closes them afterwards."""
    built: list[Muxer] = []

    def make(models: Sequence[ModelLike] | None = OFFLINE_MODELS, **kwargs: Any) -> Muxer:
        kwargs.setdefault("load_entrypoints", False)
        muxer = Muxer(models, **kwargs)
        built.append(muxer)
        return muxer

    yield make
    for muxer in built:
        muxer.close()


@pytest.fixture
def muxer(make_muxer: MakeMuxer) -> Muxer:
    return make_muxer(OFFLINE_MODELS)


@pytest.fixture
def recorded(make_muxer: MakeMuxer, recorder: Recorder) -> Muxer:
    """A muxer over the offline models with :class:`Recorder` registered."""
    return make_muxer(OFFLINE_MODELS, plugins=[recorder])
