"""Resilient provider calls: timeouts, one retry loop with jittered backoff, fallback to the
next-best model before the first streamed byte, and per-model circuit breakers.

The pipeline (:mod:`modelmuxer.pipeline.executor`, :mod:`modelmuxer.pipeline.streaming`) applies
them; this package holds the settings and the decisions. See ``docs/reliability.md``.
"""

from __future__ import annotations

from modelmuxer.reliability.breaker import BreakerFilter, BreakerRegistry, BreakerState
from modelmuxer.reliability.fallback import fallback_order
from modelmuxer.reliability.retry import RetryPolicy, error_kind
from modelmuxer.reliability.settings import BreakerSettings, ErrorKind, ReliabilitySettings

__all__ = [
    "BreakerFilter",
    "BreakerRegistry",
    "BreakerSettings",
    "BreakerState",
    "ErrorKind",
    "ReliabilitySettings",
    "RetryPolicy",
    "error_kind",
    "fallback_order",
]
