"""The circuit breaker the caches use; it lives in :mod:`modelmuxer._breaker`, shared with the
rate limiter and the budget stores."""

from __future__ import annotations

from modelmuxer._breaker import CircuitBreaker

__all__ = ["CircuitBreaker"]
