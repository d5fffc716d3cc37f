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
        BudgetExceeded,
        CircuitOpen,
        ConfigError,
        DecryptionError,
        InvalidRequest,
        InvalidToken,
        ModelMuxerError,
        NoEligibleModel,
        PluginError,
        ProviderError,
        ProviderTimeout,
        RateLimited,
        RateLimitedByProvider,
        RequestRejected,
        SensitiveDataError,
        SharedStateUnavailable,
        StreamInterrupted,
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

__all__ = [
    "BudgetExceeded",
    "CircuitOpen",
    "Completion",
    "ConfigError",
    "Decision",
    "DecryptionError",
    "GenerationParams",
    "Identity",
    "InvalidRequest",
    "InvalidToken",
    "Message",
    "ModelCard",
    "ModelMuxerError",
    "ModelSpec",
    "Muxer",
    "NoEligibleModel",
    "PluginError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "RateLimitedByProvider",
    "Request",
    "RequestRejected",
    "RoutingOptions",
    "SensitiveDataError",
    "SharedStateUnavailable",
    "StreamChunk",
    "StreamInterrupted",
    "UnknownModel",
    "UnknownStrategy",
    "Usage",
    "__version__",
    "hookimpl",
]

_TYPES = frozenset(
    {
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
    }
)
_ELSEWHERE = {
    "Muxer": "modelmuxer.muxer",
    "ModelSpec": "modelmuxer.catalog",
    "hookimpl": "modelmuxer.hookspecs",
}


def _module_of(name: str) -> str | None:
    """The module that defines public ``name`` (errors are the remaining public names)."""
    if name in _TYPES:
        return "modelmuxer.types"
    if name in _ELSEWHERE:
        return _ELSEWHERE[name]
    if name in __all__ and name != "__version__":
        return "modelmuxer.errors"
    return None


def __getattr__(name: str) -> Any:
    module = _module_of(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
