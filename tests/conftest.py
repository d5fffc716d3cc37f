"""Shared fixtures: entry-point plugins off, offline models, muxers, a recording plugin."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import Muxer
from modelmuxer.catalog import ModelLike
from modelmuxer.plugins import DISABLE_AUTOLOAD_ENV


def pytest_configure(config: pytest.Config) -> None:
    # Installed third-party plugins must not change what the suite sees (pytest does the same).
    os.environ[DISABLE_AUTOLOAD_ENV] = "1"


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


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis (skipped with the reason when it is not running)."""
    from _services import redis_url

    return redis_url()


@pytest.fixture
def postgres_url() -> str:
    """Async SQLAlchemy URL of the real PostgreSQL test database (skipped when unreachable)."""
    from _services import postgres_url

    return postgres_url()
