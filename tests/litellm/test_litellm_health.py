"""The health of the callback's muxer, as the LiteLLM proxy would serve it."""

from __future__ import annotations

import json

import pytest
from _litellm_support import CHEAP, EASY, MakeRouter, deployment

from modelmuxer.errors import ConfigError
from modelmuxer_litellm import ModelMuxerCallback
from modelmuxer_litellm.health import ahealth, find_callback, health

pytestmark = pytest.mark.litellm


async def test_the_registered_callback_reports_its_muxer(make_router: MakeRouter) -> None:
    router, callback = make_router(
        [deployment("mini", "chat", CHEAP), deployment("4o", "chat", "openai/gpt-4o")]
    )
    await router.acompletion(model="chat", messages=EASY)
    assert find_callback() is callback

    report = await ahealth()  # the registered callback's muxer

    assert report.status == "ok", report.reasons
    assert {m.model for m in report.models} == set(callback.muxer.catalog.ids())
    assert {m.model for m in report.models} >= {"mini", "4o"}
    assert all(m.breaker == "closed" for m in report.models)
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert report.http_status == 200
    assert health(callback).status == "ok"


async def test_a_proxy_callback_without_a_router_is_down_and_says_why() -> None:
    report = await ahealth(ModelMuxerCallback.for_proxy())
    assert report.status == "down"
    assert report.http_status == 503
    (reason,) = report.reasons
    assert reason.startswith("ModelMuxer is not ready:")
    assert "proxy" in reason.lower()


def test_without_a_registered_callback_find_callback_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import litellm

    monkeypatch.setattr(litellm, "callbacks", [])
    with pytest.raises(ConfigError, match=r"litellm_settings\.callbacks"):
        find_callback()
    assert health().status == "down"
