"""ModelMuxer: route each LLM request to the model that should answer it.

The entry point is :class:`Muxer`. Types live in :mod:`modelmuxer.types`, errors in
:mod:`modelmuxer.errors`, the plugin contract in :mod:`modelmuxer.hookspecs`.

The names below are loaded on first use (PEP 562), so ``import modelmuxer`` stays cheap for
code that only needs a submodule or the version; ``from modelmuxer import Muxer`` loads the
pipeline (and pydantic, which dominates its cost).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.catalog import ModelSpec
    from modelmuxer.errors import (
        ConfigError,
        InvalidRequest,
        ModelMuxerError,
        NoEligibleModel,
        PluginError,
        ProviderError,
        ProviderTimeout,
        RateLimitedByProvider,
        RequestRejected,
        UnknownModel,
        UnknownStrategy,
    )
    from modelmuxer.hookspecs import hookimpl
    from modelmuxer.muxer import Muxer
    from modelmuxer.types import (
        Completion,
        Decision,
        GenerationParams,
        Identity,
        Message,
        ModelCard,
        Request,
        RoutingOptions,
        StreamChunk,
        Usage,
    )

__version__ = "0.1.0"

_ERRORS = (
    "ConfigError",
    "InvalidRequest",
    "ModelMuxerError",
    "NoEligibleModel",
    "PluginError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimitedByProvider",
    "RequestRejected",
    "UnknownModel",
    "UnknownStrategy",
)
_TYPES = (
    "Completion",
    "Decision",
    "GenerationParams",
    "Identity",
    "Message",
    "ModelCard",
    "Request",
    "RoutingOptions",
    "StreamChunk",
    "Usage",
)
#: public name -> the module that defines it
_WHERE: dict[str, str] = {
    "Muxer": "modelmuxer.muxer",
    "ModelSpec": "modelmuxer.catalog",
    "hookimpl": "modelmuxer.hookspecs",
    **dict.fromkeys(_ERRORS, "modelmuxer.errors"),
    **dict.fromkeys(_TYPES, "modelmuxer.types"),
}

__all__ = sorted([*_WHERE, "__version__"])


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
