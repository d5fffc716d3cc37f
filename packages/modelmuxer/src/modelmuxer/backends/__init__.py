"""Backends: how models are called. The built-in ones are plugins like any other.

:class:`OfflineBackend` answers ``offline/...`` models locally and deterministically;
:class:`LiteLLMBackend` calls real providers through litellm (imported on first use).
"""

from modelmuxer.backends.base import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.backends.litellm_backend import LiteLLMBackend
from modelmuxer.backends.offline import OfflineBackend, OfflineBehavior

__all__ = [
    "Backend",
    "LiteLLMBackend",
    "ModelCall",
    "ModelResponse",
    "OfflineBackend",
    "OfflineBehavior",
    "StreamDelta",
]
