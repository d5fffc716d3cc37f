"""Registering and unregistering, and the proxy callback outside a proxy."""

from __future__ import annotations

import pytest
from _litellm_support import CHEAP, EASY, MakeRouter, deployment

from modelmuxer.errors import ConfigError
from modelmuxer_litellm import (
    AUTO_GROUP,
    ModelMuxerCallback,
    _compat,
    register,
    registered_routers,
    unregister,
)

pytestmark = pytest.mark.litellm


async def test_unregister_restores_the_router(make_router: MakeRouter) -> None:
    import litellm

    router, callback = make_router([deployment("mini", "chat", CHEAP)])
    assert callback in litellm.callbacks
    assert "completion" in vars(router)  # sync calls routed through acompletion
    assert "acompletion" in vars(router)  # failed requests end through the muxer
    unregister(router)
    assert callback not in litellm.callbacks
    assert "completion" not in vars(router)
    # gone from the router, and (litellm 1.110) from its core, which mirrors such attributes
    assert "routed by ModelMuxer" not in (router.completion.__doc__ or "")
    assert getattr(router.acompletion, "__wrapped__", None) is None
    answer = await router.acompletion(model="chat", messages=EASY)
    assert "modelmuxer" not in answer._hidden_params
    unregister(router)  # idempotent


async def test_registering_twice_replaces_the_first(make_router: MakeRouter) -> None:
    import litellm

    router, first = make_router([deployment("mini", "chat", CHEAP)])
    replacement = register(router, load_entrypoints=False)
    assert first not in litellm.callbacks
    assert replacement in litellm.callbacks
    ids = [str(d["model_info"]["id"]) for d in _compat.router_deployments(router)]
    assert ids.count(f"mini@{AUTO_GROUP}") == 1  # the virtual group is added once
    unregister(router)


def test_the_proxy_callback_outside_a_proxy_says_what_is_missing() -> None:
    callback = ModelMuxerCallback.for_proxy()
    with pytest.raises(ConfigError, match=r"(?i)proxy"):
        callback.deployments()


async def test_a_second_router_with_the_same_deployment_ids_is_refused(
    make_router: MakeRouter,
) -> None:
    """LiteLLM hands every router's calls to every callback and names deployments by id only:
    two registered routers sharing ids (the same ``model_list``, whose ids LiteLLM derives
    from the same parameters) would route and record each other's calls. Refused, saying
    which ids and what to do."""
    import litellm

    same = [deployment("mini", "chat", CHEAP)]
    first, _ = make_router(same)
    second = litellm.Router(model_list=same)
    with pytest.raises(ConfigError, match=r"'mini'.*unregister"):
        register(second, load_entrypoints=False)
    assert not any(
        isinstance(cb, ModelMuxerCallback) and cb.router is second for cb in litellm.callbacks
    )
    assert registered_routers()[-1] is first  # reachable though no longer held (a notebook)
    for router in registered_routers():
        unregister(router)
    assert registered_routers() == []
    callback = register(second, load_entrypoints=False)  # the first one gone: accepted
    assert callback in litellm.callbacks
    assert registered_routers() == [second]
    unregister(second)
