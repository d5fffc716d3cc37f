"""Fixtures for the LiteLLM adapter: routers of ``mock_response`` deployments with ModelMuxer
registered, and a plugin that collects the call records."""

from __future__ import annotations

import os

# Imported before litellm: once litellm is loaded, CPython 3.11's parser can fail with "AST
# constructor recursion depth mismatch" when pytest's hypothesis plugin imports hypothesis at
# the end of the run.
import hypothesis  # noqa: F401

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

from collections.abc import AsyncIterator
from typing import Any

import pytest
from _litellm_support import MakeRouter, RecordSink, stop_litellm_logging

from modelmuxer_litellm import ModelMuxerCallback, register, unregister


@pytest.fixture
def sink() -> RecordSink:
    return RecordSink()


@pytest.fixture
async def make_router(sink: RecordSink) -> AsyncIterator[MakeRouter]:
    """Builds a ``litellm.Router`` over ``model_list`` with ModelMuxer registered (plugins:
    ``sink`` plus any given), and unregisters it afterwards (LiteLLM's callbacks are global)."""
    import litellm

    built: list[tuple[Any, ModelMuxerCallback]] = []

    def make(
        model_list: list[dict[str, Any]], router_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, ModelMuxerCallback]:
        router = litellm.Router(model_list=model_list, **(router_kwargs or {}))
        kwargs.setdefault("load_entrypoints", False)
        kwargs["plugins"] = [sink, *kwargs.get("plugins", ())]
        callback = register(router, **kwargs)
        built.append((router, callback))
        return router, callback

    yield make
    # LiteLLM's logging worker is one task, moved to whichever loop logged last and orphaned on
    # the loop it leaves: stop it on the sync-call loops before they close, then on this one (no
    # event of this test may reach the next test's callback).
    for _, callback in built:
        if callback.sync_bridge is not None:
            callback.sync_bridge.run(stop_litellm_logging())
    await stop_litellm_logging()
    for router, _ in built:
        unregister(router)
