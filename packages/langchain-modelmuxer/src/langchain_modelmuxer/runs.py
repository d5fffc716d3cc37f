"""The LangChain run a :class:`~langchain_modelmuxer.ChatModelMuxer` stream belongs to.

LangChain hands ``_generate`` / ``_agenerate`` their run's callback manager, but calls
``_stream`` / ``_astream`` without it (it reports the tokens itself), on every path that
streams: ``stream`` / ``astream``, and ``invoke`` when it streams (``streaming=True``,
``astream_events``, LangGraph's "messages" stream mode). A muxer stream needs its run all the
same: the run's metadata is the request's identity, its tags are the request's tags, and a
wrapped model's run is its child. :func:`handing_over` hands the run to one model's stream:

- around LangChain's ``_generate_with_cache``: the run manager it was given;
- around the first step of ``stream`` / ``astream``, where LangChain opens the run and starts
  ``_stream``: a manager for that run (:func:`run_for`), built from the same config, whose run
  id :func:`with_run_id` fixed beforehand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID, uuid4

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig, ensure_config

__all__ = ["RunManager", "handing_over", "run_for", "stream_run", "with_run_id"]

RunManager = AsyncCallbackManagerForLLMRun | CallbackManagerForLLMRun


@dataclass(frozen=True, slots=True)
class _HandedRun:
    """The run handed to ``owner``'s stream (``None``: a call without a run)."""

    owner: BaseChatModel
    run: RunManager | None


_STREAM_RUN: ContextVar[_HandedRun | None] = ContextVar(
    "langchain_modelmuxer_stream_run", default=None
)


@contextmanager
def handing_over(owner: BaseChatModel, run: RunManager | None) -> Iterator[None]:
    """While inside, :func:`stream_run` gives ``owner`` the run ``run`` (in this context)."""
    token = _STREAM_RUN.set(_HandedRun(owner, run))
    try:
        yield
    finally:
        _STREAM_RUN.reset(token)


def stream_run(owner: BaseChatModel) -> RunManager | None:
    """The run handed over to ``owner`` in this context (``None`` when there is none, or when
    it was handed to another model)."""
    handed = _STREAM_RUN.get()
    if handed is None or handed.owner is not owner:
        return None
    return handed.run


def _new_run_id() -> UUID:
    """A run id as LangChain makes them: time-ordered (``uuid7``) where langchain-core has
    it, else random (any UUID is a valid run id)."""
    try:
        from langchain_core.utils.uuid import uuid7
    except ImportError:  # langchain-core before its uuid module
        return uuid4()
    return uuid7()


def with_run_id(config: RunnableConfig | None) -> RunnableConfig:
    """A copy of ``config`` with the id of the run it opens fixed (the caller's, if it set one)."""
    config = ensure_config(config)
    if config.get("run_id") is None:
        config["run_id"] = _new_run_id()
    return config


def run_for(model: BaseChatModel, config: RunnableConfig, *, is_async: bool) -> RunManager:
    """A manager for the run ``model.stream(input, config)`` opens (``config`` from
    :func:`with_run_id`): the handlers, tags and metadata LangChain configures that run with."""
    run_id = config.get("run_id")
    assert run_id is not None  # fixed by with_run_id
    configure = AsyncCallbackManager.configure if is_async else CallbackManager.configure
    manager: BaseCallbackManager = configure(
        config.get("callbacks"),
        model.callbacks,
        model.verbose,
        config.get("tags"),
        model.tags,
        config.get("metadata"),
        model.metadata,
    )
    run_class = AsyncCallbackManagerForLLMRun if is_async else CallbackManagerForLLMRun
    return run_class(
        run_id=run_id,
        handlers=manager.handlers,
        inheritable_handlers=manager.inheritable_handlers,
        parent_run_id=manager.parent_run_id,
        tags=manager.tags,
        inheritable_tags=manager.inheritable_tags,
        metadata=manager.metadata,
        inheritable_metadata=manager.inheritable_metadata,
    )
