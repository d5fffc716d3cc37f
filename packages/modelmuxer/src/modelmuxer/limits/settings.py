"""Rate limits as configured: :class:`Limit` and :class:`LimitSettings` (the ``limits`` field of
``MuxerSettings``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelmuxer._secrets import SecretUrl
from modelmuxer._shared import OnUnavailable
from modelmuxer.types import Identity

if TYPE_CHECKING:
    from modelmuxer.limits.base import LimitStore
    from modelmuxer.transport import RedisTLS

__all__ = ["EACH", "Limit", "LimitKind", "LimitScope", "LimitSettings"]

LimitScope = Literal["user", "org", "project", "model", "global"]
LimitKind = Literal["requests", "tokens"]

#: A subject of ``"*"`` means "each user / org / project / model separately, with this limit".
EACH = "*"


class Limit(BaseModel):
    """At most ``amount`` requests (or tokens) per ``window_s`` seconds, a sliding window.

    ``subject`` names the user / org / project / model it limits; ``"*"`` gives each of them
    its own counter with this limit (a limit naming a subject wins over ``"*"`` for that
    subject, for the same kind and window). A ``global`` limit has no subject and counts every
    request. A request whose identity lacks the scope's field is not limited by that scope.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: LimitScope = Field(description="what it counts by: user, org, project, model or global")
    subject: str | None = Field(
        default=None, min_length=1, description="the id it limits, '*' for each; none: global"
    )
    kind: LimitKind = Field(default="requests", description="count requests, or model tokens")
    amount: int = Field(ge=1, description="requests or tokens allowed per window")
    window_s: float = Field(gt=0.0, le=31 * 86_400.0, description="the window's length (s)")

    @model_validator(mode="after")
    def _subject_matches_scope(self) -> Limit:
        if self.scope == "global" and self.subject is not None:
            raise ValueError("a global limit has no subject")
        if self.scope != "global" and self.subject is None:
            raise ValueError(f"a {self.scope} limit needs a subject (an id, or '*' for each)")
        return self

    @property
    def name(self) -> str:
        """``user:*/requests/60s``, ``model:openai/gpt-4o/tokens/60s``, ``global/requests/1s``."""
        who = self.scope if self.subject is None else f"{self.scope}:{self.subject}"
        return f"{who}/{self.kind}/{self.window_s:g}s"

    @property
    def window_ms(self) -> int:
        """The window in whole milliseconds (at least 1)."""
        return max(1, math.ceil(self.window_s * 1000))

    def subject_of(self, identity: Identity) -> str | None:
        """The concrete subject this limit counts for ``identity`` (``"global"`` for a global
        limit), or ``None`` if it does not apply; model limits never apply to an identity."""
        if self.scope == "global":
            return "global"
        if self.scope == "model":
            return None
        value: str | None = getattr(identity, self.scope)
        if value is None or (self.subject != EACH and self.subject != value):
            return None
        return value

    def applies_to_model(self, model: str) -> bool:
        """Whether this is a model limit that counts calls to ``model``."""
        return self.scope == "model" and self.subject in (EACH, model)


class LimitSettings(BaseModel):
    """Which rate limits, where their counters live, and what happens when that is unreachable.

    ``store`` is ``memory`` (one process) or ``redis`` (every process sharing ``redis_url``).
    Requests are counted when admitted; tokens, and model calls, when the call's record arrives.
    See ``docs/reliability.md``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool | None = Field(
        default=None, description="check limits; default: on when any limit is configured"
    )
    limits: list[Limit] = Field(default_factory=list, description="the rate limits")
    store: Literal["memory", "redis"] = Field(default="memory", description="where counters live")
    redis_url: SecretUrl = Field(
        default=SecretUrl("redis://127.0.0.1:6379/0"),
        description="for store redis; its password is masked wherever the settings are shown",
    )
    key_prefix: str = Field(
        default="modelmuxer:limits", min_length=1, description="prefix of every Redis key"
    )
    buckets: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="each window is counted in this many slices; a window is enforced over "
        "between 1 and 1 + 1/buckets of its length",
    )
    timeout_s: float = Field(default=0.2, gt=0.0, le=5.0, description="timeout of every Redis call")
    on_unavailable: OnUnavailable = Field(
        default="open",
        description="Redis unreachable: 'open' admits without limits, 'closed' refuses "
        "(SharedStateUnavailable)",
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="consecutive Redis failures that open the breaker"
    )
    breaker_cooldown_s: float = Field(
        default=5.0, gt=0.0, description="how long Redis is skipped before a probe"
    )

    @field_validator("limits")
    @classmethod
    def _each_counter_once(cls, limits: list[Limit]) -> list[Limit]:
        """Two limits of one scope, subject, kind and window count on one counter, and only
        one of them would be enforced, unnoticed."""
        seen: dict[tuple[str, str | None, str, int], Limit] = {}
        for limit in limits:
            slot = (limit.scope, limit.subject, limit.kind, limit.window_ms)
            if (first := seen.setdefault(slot, limit)) is not limit:
                raise ValueError(
                    f"limit {limit.name!r} is configured twice (amount {first.amount} and "
                    f"{limit.amount}); keep one, or change its scope, subject, kind or window"
                )
        return limits

    @property
    def active(self) -> bool:
        """Whether a muxer builds a limiter (``enabled``, or limits configured)."""
        return bool(self.limits) if self.enabled is None else self.enabled

    def build_store(self, tls: RedisTLS | None = None) -> LimitStore:
        """The store ``store`` names (a Redis connection opens at first use); ``tls``: the
        options of a ``rediss://`` URL.

        :raises ConfigError: TLS is required and ``redis_url`` is plain ``redis://``.
        """
        if self.store == "memory":
            from modelmuxer.limits.memory import MemoryLimitStore

            return MemoryLimitStore()
        from modelmuxer.limits.redis import RedisLimitStore

        return RedisLimitStore(
            self.redis_url.get_secret_value(),
            key_prefix=self.key_prefix,
            timeout_s=self.timeout_s,
            tls=tls,
        )
