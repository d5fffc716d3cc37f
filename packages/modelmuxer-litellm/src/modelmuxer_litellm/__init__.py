"""ModelMuxer on a ``litellm.Router`` and in the LiteLLM proxy.

    import litellm
    from modelmuxer_litellm import register

    router = litellm.Router(model_list=[...])
    register(router, strategy="hybrid")
    await router.acompletion(model="modelmuxer/auto", messages=[...])

ModelMuxer picks the deployment; LiteLLM keeps its retries, cooldowns and fallbacks. In the proxy,
list a :meth:`ModelMuxerCallback.for_proxy` instance under ``litellm_settings.callbacks``.

Names load on first use: importing this package does not import litellm (seconds); using it does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer_litellm.callback import (
        AUTO_GROUP,
        ROUTING_KEY,
        STRATEGY_KEY,
        ModelMuxerCallback,
    )
    from modelmuxer_litellm.cards import DeploymentOverrides, deployment_card
    from modelmuxer_litellm.identity import identity_from_request, tags_from_request
    from modelmuxer_litellm.register import register, registered_routers, unregister
    from modelmuxer_litellm.routing_info import METADATA_KEY, RoutingInfo

__all__ = [
    "AUTO_GROUP",
    "METADATA_KEY",
    "ROUTING_KEY",
    "STRATEGY_KEY",
    "DeploymentOverrides",
    "ModelMuxerCallback",
    "RoutingInfo",
    "deployment_card",
    "identity_from_request",
    "register",
    "registered_routers",
    "tags_from_request",
    "unregister",
]

_MODULES = {
    "AUTO_GROUP": "callback",
    "ROUTING_KEY": "callback",
    "STRATEGY_KEY": "callback",
    "ModelMuxerCallback": "callback",
    "DeploymentOverrides": "cards",
    "deployment_card": "cards",
    "identity_from_request": "identity",
    "tags_from_request": "identity",
    "register": "register",
    "registered_routers": "register",
    "unregister": "register",
    "METADATA_KEY": "routing_info",
    "RoutingInfo": "routing_info",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer_litellm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer_litellm.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
