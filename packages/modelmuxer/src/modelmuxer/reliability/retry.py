"""What a failure is, and whether (and after how long) to try again.

The pipeline's one retry loop (:mod:`modelmuxer.pipeline.executor`) asks :class:`RetryPolicy`;
nothing below it retries (the litellm backend turns litellm's and the SDK's retries off).
"""

from __future__ import annotations

import random
import re
from typing import Final

from modelmuxer.errors import CircuitOpen, ProviderError, ProviderTimeout, RateLimitedByProvider
from modelmuxer.reliability.settings import ErrorKind, ReliabilitySettings

__all__ = ["RetryPolicy", "error_kind"]

#: How providers and litellm say "the prompt does not fit" in a 400 (litellm's class name,
#: OpenAI's error code, the usual wording).
_CONTEXT_LENGTH: Final = re.compile(
    r"ContextWindowExceeded|context_length_exceeded|maximum context length|context window|"
    r"prompt is too long|too many tokens",
    re.IGNORECASE,
)


def error_kind(error: ProviderError) -> ErrorKind:
    """The kind of ``error`` (see :data:`~modelmuxer.reliability.settings.ErrorKind`)."""
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, ProviderTimeout):
        return "timeout"
    if isinstance(error, RateLimitedByProvider):
        return "rate_limit"
    status = error.status_code
    if status is None:
        return "connection" if error.retryable else "other"
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "context_length" if _CONTEXT_LENGTH.search(str(error)) else "bad_request"
    return "other"


class RetryPolicy:
    """Decides retries and fallbacks from :class:`ReliabilitySettings`.

    The wait before retry ``n`` (0-based) is ``min(cap, base * 2**n)``, of which the fraction
    ``jitter`` is random (so that many clients failing together do not retry together); a
    provider's ``Retry-After`` is a floor on it. ``rng`` makes the jitter reproducible in tests.
    """

    def __init__(self, settings: ReliabilitySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (0-based), in seconds."""
        s = self.settings
        ceiling = min(s.backoff_cap_s, s.backoff_base_s * 2.0 ** min(retry, 30))
        return ceiling * (1.0 - s.backoff_jitter * self._rng.random())

    def retry_delay(
        self, error: ProviderError, retries_done: int, remaining_s: float | None
    ) -> float | None:
        """How long to wait before calling the same model again, or ``None``: do not.

        Not when the kind is not in ``retry_on``, the retries are used up, the provider asks
        for a wait longer than ``retry_after_max_s``, or the wait would pass the deadline
        (``remaining_s``: seconds left of ``total_timeout_s``; ``None``: no deadline).
        """
        s = self.settings
        if retries_done >= s.max_retries or error_kind(error) not in s.retry_on:
            return None
        delay = self.backoff(retries_done)
        asked = error.retry_after_s
        if asked is not None:
            if asked > s.retry_after_max_s:
                return None
            delay = max(delay, asked)
        if remaining_s is not None and delay >= remaining_s:
            return None
        return delay

    def falls_back(self, error: ProviderError) -> bool:
        """Whether another model should be tried after ``error``."""
        return self.settings.max_fallbacks > 0 and error_kind(error) in self.settings.fallback_on
