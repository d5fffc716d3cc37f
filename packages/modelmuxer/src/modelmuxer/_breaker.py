"""A circuit breaker: after repeated failures, stop calling a service for a cool-down.

Shared by every client of shared state (the caches, the rate limiter, the budget stores).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """``closed``: calls go through. After ``failures`` consecutive failures it opens: calls are
    skipped for ``cooldown_s``. Then one probe call is let through (``half-open``); its success
    closes the breaker, its failure opens it again.

    Safe to share between threads (the sync API and thread pools call the same stores).
    """

    def __init__(
        self, *, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        """The breaker's state now."""
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at < self.cooldown_s:
            return "open"
        return "half-open"

    def retry_in(self) -> float:
        """Seconds until a call may go through again (0 when one may now)."""
        opened = self._opened_at
        if opened is None:
            return 0.0
        return max(self.cooldown_s - (self._clock() - opened), 0.0)

    def allow(self) -> bool:
        """Whether a call may go through now (a half-open breaker lets exactly one probe)."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half-open":
                self._probing = True
                return True
            return False

    def succeeded(self) -> bool:
        """Record a successful call: the breaker closes. Whether it was open until now."""
        with self._lock:
            was_open = self._opened_at is not None
            self._consecutive = 0
            self._opened_at = None
            self._probing = False
            return was_open

    def failed(self) -> bool:
        """Record a failed call: the breaker opens after enough of them, or after a failed probe.

        :return: whether this failure opened a closed breaker (not a failed probe).
        """
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self.failures:
                was_closed = self._opened_at is None
                self._opened_at = self._clock()
                self._probing = False
                return was_closed
            return False

    def abandoned(self) -> None:
        """A call ended without telling (it was cancelled): a probe lets the next call probe."""
        with self._lock:
            self._probing = False
