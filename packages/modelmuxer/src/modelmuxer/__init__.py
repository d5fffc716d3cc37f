"""ModelMuxer: route each LLM request to the model that should answer it.

The entry point is :class:`Muxer`. Types live in :mod:`modelmuxer.types`, errors in
:mod:`modelmuxer.errors`, the plugin contract in :mod:`modelmuxer.hookspecs`.
"""

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

__all__ = [
    "Completion",
    "ConfigError",
    "Decision",
    "GenerationParams",
    "Identity",
    "InvalidRequest",
    "Message",
    "ModelCard",
    "ModelMuxerError",
    "ModelSpec",
    "Muxer",
    "NoEligibleModel",
    "PluginError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimitedByProvider",
    "Request",
    "RequestRejected",
    "RoutingOptions",
    "StreamChunk",
    "UnknownModel",
    "UnknownStrategy",
    "Usage",
    "__version__",
    "hookimpl",
]
