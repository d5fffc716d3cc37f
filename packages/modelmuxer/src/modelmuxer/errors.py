"""Every error ModelMuxer raises, in one place.

All errors derive from :class:`ModelMuxerError`. Each carries what a user needs to act on it
(the field, the model, the reason) and never a secret: API keys and prompt text are not included
in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "InvalidRequest",
    "ModelMuxerError",
    "NoEligibleModel",
    "PluginError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimitedByProvider",
    "RequestRejected",
    "UnknownModel",
    "UnknownStrategy",
]


class ModelMuxerError(Exception):
    """Base class of every error ModelMuxer raises."""


class ConfigError(ModelMuxerError, ValueError):
    """The configuration cannot work: a model without a price, a bad setting, a broken plugin."""


class UnknownStrategy(ConfigError):
    """A strategy name that no registered plugin provides."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f"unknown strategy {name!r}; registered strategies: {', '.join(self.known)}. "
            "Pick one of these or register a strategy plugin."
        )


class UnknownModel(ConfigError):
    """A model id that is not among the muxer's candidates."""

    def __init__(self, model: str, known: list[str]) -> None:
        self.model = model
        self.known = list(known)
        super().__init__(
            f"unknown model {model!r}; this muxer's candidates are: {', '.join(self.known)}"
        )


class PluginError(ConfigError):
    """A plugin could not be loaded or broke the hook contract."""


class InvalidRequest(ModelMuxerError, ValueError):
    """The request is malformed. ``field`` names the offending field (dotted path)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class RequestRejected(ModelMuxerError):
    """A plugin refused the request (raised from ``modelmuxer_request_start``)."""

    def __init__(self, reason: str, *, plugin: str | None = None) -> None:
        self.reason = reason
        self.plugin = plugin
        prefix = f"rejected by {plugin}: " if plugin else "rejected: "
        super().__init__(prefix + reason)


class NoEligibleModel(ModelMuxerError):
    """No candidate may answer this request. ``exclusions`` maps each model to why it is out."""

    def __init__(self, exclusions: Mapping[str, str]) -> None:
        self.exclusions = dict(exclusions)
        lines = "\n".join(f"  - {model}: {why}" for model, why in self.exclusions.items())
        super().__init__(
            "no candidate model can answer this request:\n"
            + (lines or "  (the muxer has no candidates)")
        )


class BudgetExceeded(ModelMuxerError):
    """A budget cannot cover this call's worst-case cost; nothing was reserved or spent.

    ``budget`` names it (``org:acme/day``: scope, subject, period); ``limit_usd``,
    ``spent_usd`` and ``reserved_usd`` are its counter when it refused; ``needed_usd`` is the
    worst-case cost asked for; ``resets_at`` is when a new period starts (``None``: never).
    """

    def __init__(
        self,
        *,
        budget: str,
        scope: str,
        subject: str | None,
        period: str,
        limit_usd: Decimal,
        spent_usd: Decimal,
        reserved_usd: Decimal,
        needed_usd: Decimal,
        resets_at: datetime | None,
        model: str | None = None,
    ) -> None:
        self.budget = budget
        self.scope = scope
        self.subject = subject
        self.period = period
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.needed_usd = needed_usd
        self.resets_at = resets_at
        self.model = model
        left = max(limit_usd - spent_usd - reserved_usd, Decimal(0))
        call = f" for {model}" if model else ""
        when = f"it resets at {resets_at.isoformat()}" if resets_at else "it never resets"
        super().__init__(
            f"budget {budget} cannot cover this call{call}: limit ${limit_usd:f}, "
            f"spent ${spent_usd:f}, reserved by calls in flight ${reserved_usd:f}, "
            f"left ${left:f}, worst case of this call ${needed_usd:f}; {when}. "
            "Lower max_tokens or the prompt, pick a cheaper model, raise the limit, "
            "or wait for the reset."
        )


class ProviderError(ModelMuxerError):
    """A model call failed. ``retryable`` tells whether trying again (or elsewhere) may help."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        self.model = model
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        code = f" (HTTP {status_code})" if status_code else ""
        super().__init__(f"{model}{code}: {message}")


class ProviderTimeout(ProviderError):
    """The model did not answer in time."""

    def __init__(self, *, model: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"no answer within {timeout_s:g} s", model=model, retryable=True)


class RateLimitedByProvider(ProviderError):
    """The provider answered 429."""

    def __init__(self, message: str, *, model: str, retry_after_s: float | None = None) -> None:
        super().__init__(
            message, model=model, status_code=429, retryable=True, retry_after_s=retry_after_s
        )
