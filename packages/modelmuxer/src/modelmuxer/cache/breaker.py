"""A circuit breaker: after repeated failures, stop calling a service for a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker"]

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """``closed``: calls go through. After ``failures`` consecutive failures it opens: calls are
    skipped for ``cooldown_s``. Then one probe call is let through (``half-open``); its success
    closes the breaker, its failure opens it again."""

    def __init__(
        self, *, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The breaker's state now."""
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at < self.cooldown_s:
            return "open"
        return "half-open"

    def allow(self) -> bool:
        """Whether a call may go through now (a half-open breaker lets exactly one probe)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open":
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        """Record a successful call: the breaker closes."""
        self._consecutive = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        """Record a failed call: the breaker opens after enough of them, or after a failed probe."""
        self._consecutive += 1
        if self._probing or self._consecutive >= self.failures:
            self._opened_at = self._clock()
            self._probing = False
