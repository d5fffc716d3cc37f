"""Errors are typed, say what to do, and can be caught by family."""

from __future__ import annotations

import pytest

import modelmuxer
from modelmuxer import errors
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


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_modelmuxer_error_and_exported(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, ModelMuxerError)
    assert getattr(modelmuxer, name) is cls


def test_families() -> None:
    assert issubclass(UnknownStrategy, ConfigError)
    assert issubclass(UnknownModel, ConfigError)
    assert issubclass(PluginError, ConfigError)
    assert issubclass(ConfigError, ValueError)
    assert issubclass(InvalidRequest, ValueError)
    assert issubclass(ProviderTimeout, ProviderError)
    assert issubclass(RateLimitedByProvider, ProviderError)
    assert not issubclass(RequestRejected, ValueError)
    assert not issubclass(NoEligibleModel, ConfigError)


def test_unknown_strategy_message() -> None:
    error = UnknownStrategy("fast", ["hybrid", "cascade"])
    assert error.known == ["cascade", "hybrid"]
    assert str(error).startswith("unknown strategy 'fast'; registered strategies: cascade, hybrid.")


def test_unknown_model_message() -> None:
    error = UnknownModel("x", ["a", "b"])
    assert error.known == ["a", "b"]
    assert str(error) == "unknown model 'x'; this muxer's candidates are: a, b"


def test_invalid_request_names_the_field() -> None:
    assert (
        str(InvalidRequest("too hot", field="params.temperature")) == "params.temperature: too hot"
    )
    assert InvalidRequest("too hot", field="params.temperature").field == "params.temperature"
    assert str(InvalidRequest("bad")) == "bad"
    assert InvalidRequest("bad").field is None


def test_request_rejected_names_the_plugin() -> None:
    assert str(RequestRejected("over quota", plugin="quota")) == "rejected by quota: over quota"
    assert str(RequestRejected("over quota")) == "rejected: over quota"


def test_no_eligible_model_lists_every_model() -> None:
    error = NoEligibleModel({"a": "too small", "b": "denied"})
    assert error.exclusions == {"a": "too small", "b": "denied"}
    assert str(error).splitlines() == [
        "no candidate model can answer this request:",
        "  - a: too small",
        "  - b: denied",
    ]
    assert "(the muxer has no candidates)" in str(NoEligibleModel({}))


def test_provider_errors() -> None:
    error = ProviderError("overloaded", model="m", status_code=503, retryable=True)
    assert str(error) == "m (HTTP 503): overloaded"
    assert (error.model, error.status_code, error.retryable) == ("m", 503, True)
    assert str(ProviderError("broke", model="m")) == "m: broke"
    timeout = ProviderTimeout(model="m", timeout_s=0.05)
    assert str(timeout) == "m: no answer within 0.05 s"
    assert timeout.retryable
    assert timeout.timeout_s == 0.05
    limited = RateLimitedByProvider("slow down", model="m", retry_after_s=2.0)
    assert (limited.status_code, limited.retryable, limited.retry_after_s) == (429, True, 2.0)
