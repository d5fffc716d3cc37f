"""Every error ModelMuxer raises, in one place.

All errors derive from :class:`ModelMuxerError`. Each carries what a user needs to act on it
(the field, the model, the reason) and never a secret: API keys and prompt text are not included
in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelmuxer.types import Usage

__all__ = [
    "BudgetExceeded",
    "CircuitOpen",
    "ConfigError",
    "DecryptionError",
    "InvalidRequest",
    "InvalidToken",
    "ModelMuxerError",
    "NoEligibleModel",
    "PluginError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "RateLimitedByProvider",
    "RequestRejected",
    "SensitiveDataError",
    "SharedStateUnavailable",
    "StreamInterrupted",
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


class RateLimited(ModelMuxerError):
    """A rate limit refused the request; nothing was counted for it.

    ``scope`` (``user``, ``org``, ``project``, ``model`` or ``global``) and ``subject`` (the
    user / org / project / model id; ``None`` for ``global``) name the limit; ``kind`` is
    ``requests`` or ``tokens``; ``limit`` is how many per ``window_s`` seconds (a sliding
    window); ``retry_after_s`` is when a request would be admitted again, if nothing else
    arrives meanwhile.
    """

    def __init__(
        self,
        *,
        scope: str,
        subject: str | None,
        kind: str,
        limit: int,
        window_s: float,
        retry_after_s: float,
    ) -> None:
        self.scope = scope
        self.subject = subject
        self.kind = kind
        self.limit = limit
        self.window_s = window_s
        self.retry_after_s = retry_after_s
        who = scope if subject is None else f"{scope} {subject}"
        spent = "reached" if kind == "requests" else "used up"
        super().__init__(
            f"rate limit of {who}: {limit} {kind} per {window_s:g} s {spent}; "
            f"retry in {retry_after_s:.2f} s, or raise the limit"
        )


class SharedStateUnavailable(ModelMuxerError):
    """Shared state (Redis, PostgreSQL) could not be reached and the component fails closed.

    ``component`` is ``limits`` or ``budgets``; ``backend`` is ``redis`` or ``postgresql``;
    ``retry_after_s`` is when the next attempt to reach it is made. Nothing was admitted or
    reserved.
    """

    def __init__(self, *, component: str, backend: str, retry_after_s: float) -> None:
        self.component = component
        self.backend = backend
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the {component} store ({backend}) is unreachable and {component}.on_unavailable "
            f"is 'closed', so this request is refused; retry in {retry_after_s:.2f} s, restore "
            f"{backend}, or set {component}.on_unavailable='open' to admit requests "
            "without it while it is down"
        )


class InvalidToken(ModelMuxerError):
    """A JWT was refused, so no identity comes from it.

    ``reason`` is one of ``malformed``, ``algorithm`` (not among the accepted ones, e.g.
    ``none`` or an HS/RS swap), ``key`` (no key fits it), ``signature``, ``expired``,
    ``not_yet_valid``, ``audience``, ``issuer``, ``claims`` (a required claim is missing or
    invalid). The message never contains the token.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"invalid token ({reason}): {detail}")


class CircuitOpen(ProviderError):
    """The model's circuit breaker is open: it failed repeatedly, so it is not called for now.

    Routing leaves such models out (the exclusion reason starts with ``circuit open``); this
    error is raised only when a model's breaker opened after routing chose it and nothing else
    could answer. ``retry_in_s`` is when a probe call will be let through.
    """

    def __init__(self, *, model: str, failures: int, retry_in_s: float) -> None:
        self.failures = failures
        self.retry_in_s = retry_in_s
        super().__init__(
            f"circuit open after {failures} failures; a probe call is let through in "
            f"{retry_in_s:.1f} s. Add another candidate model to fall back to, or wait",
            model=model,
            retryable=True,
        )


class StreamInterrupted(ProviderError):
    """A stream failed after part of the answer was delivered; nothing was retried.

    Retrying or falling back at this point would send the consumer the beginning of the answer
    again (or a different one), so the pipeline stops instead. ``chunks`` and ``characters``
    are what the consumer received; ``usage`` (a :class:`~modelmuxer.types.Usage`: the prompt
    and the tokens received) and ``cost_usd`` are what was recorded for the call; ``cause`` is
    the provider's error. Discard the partial answer before asking again.
    """

    def __init__(
        self,
        *,
        model: str,
        chunks: int,
        characters: int,
        usage: Usage,
        cost_usd: float,
        cause: ProviderError,
    ) -> None:
        self.chunks = chunks
        self.characters = characters
        self.usage = usage
        self.cost_usd = cost_usd
        self.cause = cause
        reason = str(cause)  # "<model> (HTTP 503): <what happened>": keep what happened
        if reason.startswith(cause.model) and ": " in reason:
            reason = reason.split(": ", 1)[1]
        super().__init__(
            f"the stream broke after {chunks} chunks ({characters} characters delivered) and "
            f"was not retried, so that nothing is delivered twice: {reason}",
            model=model,
            status_code=cause.status_code,
        )


class SensitiveDataError(ModelMuxerError, TypeError):
    """An attempt to copy, pickle or serialise an object holding PII in clear (the placeholder
    mapping of a redacted request): it lives in memory for its request only."""


class DecryptionError(ModelMuxerError):
    """Data encrypted at rest (a cached answer, an outbox line, a stored prompt) could not be
    decrypted, so nothing of it is returned: never garbage, never a partial plaintext.

    ``what`` names the data (``outbox line``, ``cache entry``...); ``reason`` is one of
    ``unknown_key`` (written under a key that is not among ``encryption.keys``), ``tampered``
    (the key is known but the authentication failed: altered or corrupted), ``malformed`` (not
    a ModelMuxer ciphertext) or ``disabled`` (encrypted, but encryption is off); ``key_id`` is
    the id of the key it was written under, when known (an id, never the key).
    """

    def __init__(self, what: str, reason: str, *, key_id: str | None = None) -> None:
        self.what = what
        self.reason = reason
        self.key_id = key_id
        under = f" under key {key_id}" if key_id else ""
        advice = {
            "unknown_key": f"it was encrypted{under}, which is not among encryption.keys; add "
            "that key back after the current one to read it",
            "tampered": f"it was altered or corrupted after it was written{under} (its "
            "authentication failed)",
            "malformed": "it is not a ModelMuxer ciphertext (truncated or not encrypted by it)",
            "disabled": f"it is encrypted{under} but encryption is off; set "
            "encryption.enabled and encryption.keys (or the variable encryption.keys_env names)",
        }.get(reason, reason)
        super().__init__(f"cannot decrypt the {what}: {advice}")
