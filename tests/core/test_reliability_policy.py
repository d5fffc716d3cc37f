"""The reliability policy on its own: error kinds, backoff and Retry-After, fallback order,
settings."""

from __future__ import annotations

import random

import pytest

from modelmuxer import ConfigError
from modelmuxer.config import MuxerSettings, load_settings
from modelmuxer.errors import (
    CircuitOpen,
    ProviderError,
    ProviderTimeout,
    RateLimitedByProvider,
    StreamInterrupted,
)
from modelmuxer.reliability import ReliabilitySettings, RetryPolicy, error_kind, fallback_order
from modelmuxer.types import CandidateEstimate, Decision, Usage


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ProviderTimeout(model="m", timeout_s=1.0), "timeout"),
        (RateLimitedByProvider("slow down", model="m"), "rate_limit"),
        (ProviderError("x", model="m", status_code=429, retryable=True), "rate_limit"),
        (ProviderError("x", model="m", status_code=408, retryable=True), "timeout"),
        (ProviderError("x", model="m", status_code=500, retryable=True), "server_error"),
        (ProviderError("x", model="m", status_code=529, retryable=True), "server_error"),
        (ProviderError("Connection error.", model="m", retryable=True), "connection"),
        (ProviderError("unexpected", model="m"), "other"),
        (ProviderError("bad key", model="m", status_code=401), "auth"),
        (ProviderError("forbidden", model="m", status_code=403), "auth"),
        (ProviderError("no such model", model="m", status_code=404), "bad_request"),
        (ProviderError("bad field", model="m", status_code=400), "bad_request"),
        (
            ProviderError(
                "ContextWindowExceededError: maximum context length is 8192 tokens",
                model="m",
                status_code=400,
            ),
            "context_length",
        ),
        (
            ProviderError("code: context_length_exceeded", model="m", status_code=400),
            "context_length",
        ),
        (CircuitOpen(model="m", failures=5, retry_in_s=3.0), "circuit_open"),
    ],
)
def test_error_kinds(error: ProviderError, kind: str) -> None:
    assert error_kind(error) == kind


def _policy(**settings: object) -> RetryPolicy:
    return RetryPolicy(ReliabilitySettings.model_validate(settings), random.Random(7))


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = _policy(backoff_base_s=0.5, backoff_cap_s=3.0, backoff_jitter=0.0)
    assert [policy.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(10_000) == 3.0  # no overflow


def test_backoff_jitter_stays_within_its_share() -> None:
    policy = _policy(backoff_base_s=1.0, backoff_cap_s=8.0, backoff_jitter=0.5)
    for retry in range(4):
        ceiling = min(8.0, 2.0**retry)
        waits = [policy.backoff(retry) for _ in range(200)]
        assert all(ceiling * 0.5 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # random, so that clients failing together spread out
    full = _policy(backoff_base_s=1.0, backoff_cap_s=1.0, backoff_jitter=1.0)
    assert min(full.backoff(0) for _ in range(500)) < 0.1


def test_retry_delay_follows_retry_on_and_max_retries() -> None:
    policy = _policy(retry_on=["server_error"], max_retries=2, backoff_jitter=0.0)
    overloaded = ProviderError("busy", model="m", status_code=503, retryable=True)
    assert policy.retry_delay(overloaded, 0, None) == 0.5
    assert policy.retry_delay(overloaded, 1, None) == 1.0
    assert policy.retry_delay(overloaded, 2, None) is None  # used up
    assert policy.retry_delay(ProviderTimeout(model="m", timeout_s=1), 0, None) is None
    assert policy.retry_delay(ProviderError("no", model="m", status_code=400), 0, None) is None


def test_retry_after_is_a_floor_and_a_long_one_is_not_waited_for() -> None:
    policy = _policy(retry_on=["rate_limit"], backoff_jitter=0.0, retry_after_max_s=10.0)
    assert (
        policy.retry_delay(RateLimitedByProvider("x", model="m", retry_after_s=3.0), 0, None) == 3.0
    )
    # shorter than the backoff: the backoff wins (Retry-After is the least to wait)
    assert (
        policy.retry_delay(RateLimitedByProvider("x", model="m", retry_after_s=0.1), 0, None) == 0.5
    )
    assert (
        policy.retry_delay(RateLimitedByProvider("x", model="m", retry_after_s=11.0), 0, None)
        is None
    )


def test_no_retry_passes_the_deadline() -> None:
    policy = _policy(retry_on=["server_error"], backoff_jitter=0.0)
    error = ProviderError("busy", model="m", status_code=500, retryable=True)
    assert policy.retry_delay(error, 0, remaining_s=0.6) == 0.5
    assert policy.retry_delay(error, 0, remaining_s=0.4) is None


def test_falls_back_on_the_configured_kinds() -> None:
    policy = _policy()
    assert policy.falls_back(ProviderError("busy", model="m", status_code=503, retryable=True))
    assert policy.falls_back(ProviderTimeout(model="m", timeout_s=1))
    assert policy.falls_back(CircuitOpen(model="m", failures=3, retry_in_s=1.0))
    assert not policy.falls_back(ProviderError("bad key", model="m", status_code=401))
    assert not policy.falls_back(ProviderError("bad field", model="m", status_code=400))
    assert not _policy(max_fallbacks=0).falls_back(ProviderTimeout(model="m", timeout_s=1))
    assert not _policy(fallback_on=["rate_limit"]).falls_back(
        ProviderTimeout(model="m", timeout_s=1)
    )


def _decision(*rows: tuple[str, float, float, float | None, str | None]) -> Decision:
    return Decision(
        strategy="test",
        models=[rows[0][0]],
        candidates=[
            CandidateEstimate(model=m, quality=q, cost_usd=c, latency_s=1.0, score=s, excluded=x)
            for m, q, c, s, x in rows
        ],
        reason="test",
    )


def test_fallback_order_follows_the_strategys_scores() -> None:
    decision = _decision(
        ("a", 0.9, 0.01, 0.7, None),
        ("b", 0.95, 0.10, 0.4, None),
        ("c", 0.6, 0.001, 0.6, None),
        ("d", 0.99, 0.0, None, "circuit open: 5 failures"),
    )
    assert fallback_order(decision, ["a"]) == ["c", "b"]
    assert fallback_order(decision, ["a", "c"]) == ["b"]


def test_fallback_order_without_scores_prefers_quality_then_price() -> None:
    decision = _decision(
        ("a", 0.9, 0.01, None, None),
        ("b", 0.8, 0.10, None, None),
        ("c", 0.8, 0.001, None, None),
        ("d", 0.99, 0.0, None, "in the request's deny list"),
    )
    assert fallback_order(decision, ["a"]) == ["c", "b"]
    assert fallback_order(decision, ["a", "b", "c"]) == []


def test_settings_defaults_and_validation() -> None:
    settings = MuxerSettings().reliability
    assert settings.max_retries == 2
    assert settings.retry_on == {"connection"}
    assert {"rate_limit", "server_error", "timeout", "connection", "context_length"} <= (
        settings.fallback_on
    )
    assert settings.breaker.enabled
    with pytest.raises(ConfigError, match="backoff_cap_s"):
        load_settings(reliability={"backoff_base_s": 2.0, "backoff_cap_s": 1.0})
    with pytest.raises(ConfigError, match="retry_on"):
        load_settings(reliability={"retry_on": ["sometimes"]})


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELMUXER_RELIABILITY",
        '{"max_retries": 4, "retry_on": ["server_error", "rate_limit"], '
        '"breaker": {"failures": 3, "cooldown_s": 5}}',
    )
    settings = load_settings().reliability
    assert settings.max_retries == 4
    assert settings.retry_on == {"server_error", "rate_limit"}
    assert (settings.breaker.failures, settings.breaker.cooldown_s) == (3, 5.0)


def test_stream_interrupted_says_what_was_delivered() -> None:
    cause = ProviderError("simulated server error", model="m", status_code=503, retryable=True)
    usage = Usage(prompt_tokens=12, completion_tokens=4)
    error = StreamInterrupted(
        model="m", chunks=3, characters=17, usage=usage, cost_usd=0.0001, cause=cause
    )
    assert isinstance(error, ProviderError)
    assert (error.model, error.chunks, error.characters, error.usage) == ("m", 3, 17, usage)
    assert error.status_code == 503
    assert not error.retryable  # the consumer already has part of the answer
    assert str(error) == (
        "m (HTTP 503): the stream broke after 3 chunks (17 characters delivered) and was not "
        "retried, so that nothing is delivered twice: simulated server error"
    )


def test_circuit_open_says_when_to_come_back() -> None:
    error = CircuitOpen(model="m", failures=5, retry_in_s=12.34)
    assert (error.failures, error.retry_in_s, error.retryable) == (5, 12.34, True)
    assert "circuit open after 5 failures" in str(error)
    assert "12.3 s" in str(error)
