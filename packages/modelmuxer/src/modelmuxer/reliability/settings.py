"""How provider calls are made resilient: :class:`ReliabilitySettings` (the ``reliability`` field
of ``MuxerSettings``) and :class:`BreakerSettings`.

Importing this module imports pydantic only.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BreakerSettings", "ErrorKind", "ReliabilitySettings"]

#: What kind of failure a :class:`~modelmuxer.errors.ProviderError` is (see
#: :func:`modelmuxer.reliability.error_kind`):
#:
#: - ``rate_limit``: HTTP 429; ``server_error``: HTTP 5xx; ``timeout``: no answer in time
#:   (the pipeline's timeout, the provider's, HTTP 408);
#: - ``connection``: no HTTP answer at all (refused, reset, dropped before the answer);
#: - ``context_length``: the prompt does not fit this model's context window (HTTP 400);
#: - ``auth``: HTTP 401 / 403; ``bad_request``: any other 4xx;
#: - ``circuit_open``: the model's breaker is open (no call was made);
#: - ``other``: anything else.
ErrorKind = Literal[
    "rate_limit",
    "server_error",
    "timeout",
    "connection",
    "context_length",
    "auth",
    "bad_request",
    "circuit_open",
    "other",
]

_TRANSIENT: frozenset[ErrorKind] = frozenset(
    {"rate_limit", "server_error", "timeout", "connection"}
)


class BreakerSettings(BaseModel):
    """The per-model circuit breaker.

    ``failures`` failures of the kinds in ``count`` within ``window_s`` seconds, with no success
    in between, open a model's breaker: routing leaves the model out (reason ``circuit open``)
    for ``cooldown_s`` seconds. Then the breaker is half-open: one call is let through as a
    probe; its success closes the breaker, its failure opens it for another ``cooldown_s``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = Field(default=True, description="take failing models out of the candidates")
    failures: int = Field(default=5, ge=1, le=1000, description="failures that open the breaker")
    window_s: float = Field(
        default=60.0, gt=0.0, description="the failures must fall within this many seconds"
    )
    cooldown_s: float = Field(
        default=30.0, gt=0.0, description="how long an open breaker keeps the model out"
    )
    count: frozenset[ErrorKind] = Field(
        default=_TRANSIENT,
        description="error kinds that count as failures (others neither open nor close it)",
    )


class ReliabilitySettings(BaseModel):
    """Timeouts, retries, fallback and circuit breakers around every model call.

    Every call has a timeout (``MuxerSettings.timeout_s``, or the request's ``timeout_s``).
    A failed call is retried on the same model when its kind is in ``retry_on`` (at most
    ``max_retries`` times, waiting a jittered exponential backoff, or the provider's
    ``Retry-After`` when it says so); when the model still fails with a kind in
    ``fallback_on``, the next-best eligible candidate of the routing decision is called (at
    most ``max_fallbacks`` of them). Retries and fallbacks happen only before the first byte of
    a streamed answer: after it a failure raises
    :class:`~modelmuxer.errors.StreamInterrupted`. This is the only retry loop: the litellm
    backend tells litellm and the provider SDK not to retry.

    Defaults: a failure falls back to another model at once rather than waiting to retry the
    same one (another model usually answers sooner than a backoff, and a timed-out call may
    still be running, and billed, at the provider), except a dropped connection, which is
    retried. With a single candidate, add ``server_error`` / ``rate_limit`` to ``retry_on``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="retries of the same model after a failed call"
    )
    retry_on: frozenset[ErrorKind] = Field(
        default=frozenset({"connection"}),
        description="error kinds retried on the same model (before falling back)",
    )
    backoff_base_s: float = Field(
        default=0.5, ge=0.0, description="the first retry waits about this long"
    )
    backoff_cap_s: float = Field(
        default=8.0, ge=0.0, description="no backoff wait is longer than this"
    )
    backoff_jitter: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="the random part of each wait: 0 = exactly base * 2^n, 1 = anywhere in "
        "[0, base * 2^n]",
    )
    retry_after_max_s: float = Field(
        default=30.0,
        ge=0.0,
        description="a provider's Retry-After longer than this is not waited for: the call "
        "falls back (or fails) instead",
    )
    max_fallbacks: int = Field(
        default=2, ge=0, le=20, description="other models tried when the chosen one fails"
    )
    fallback_on: frozenset[ErrorKind] = Field(
        default=frozenset(_TRANSIENT | {"context_length", "circuit_open"}),
        description="error kinds that move the request to the next-best model",
    )
    total_timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="deadline for a request's attempts before its answer starts (retries, "
        "fallbacks and waits included); None: only the per-call timeout",
    )
    stream_idle_timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="longest gap between two chunks of a streamed answer once it has "
        "started; None: the call's timeout",
    )
    breaker: BreakerSettings = Field(
        default_factory=BreakerSettings, description="the per-model circuit breaker"
    )

    @model_validator(mode="after")
    def _cap_covers_base(self) -> Self:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(
                f"backoff_cap_s ({self.backoff_cap_s}) must be at least backoff_base_s "
                f"({self.backoff_base_s})"
            )
        return self
