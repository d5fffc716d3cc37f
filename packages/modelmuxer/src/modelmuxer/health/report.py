"""What ``muxer.health()`` returns: :class:`HealthReport` and its parts (pydantic models).

Amounts are floats (USD) and times milliseconds or seconds: the report is for probes,
dashboards and people, not for accounting (the ledger and the budget stores are exact).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BudgetHealth",
    "DatabaseHealth",
    "HealthReport",
    "HealthStatus",
    "ModelHealth",
    "OutboxHealth",
    "RedisHealth",
]

#: ``ok``: everything answers; ``degraded``: the process serves requests, but something is
#: wrong (a model failing, a cache bypassed, records waiting in the outbox); ``down``: it cannot
#: serve (every model's breaker open, a store that fails closed unreachable).
HealthStatus = Literal["ok", "degraded", "down"]
#: the state of a circuit breaker (a model's, or a component's for its shared store)
BreakerStateName = Literal["closed", "open", "half-open"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelHealth(BaseModel):
    """One candidate model: its circuit breaker and its recent calls.

    ``calls`` and ``failures`` count the calls this process made to the model in the last
    ``window_s`` seconds (``None`` when circuit breakers are off, as they count them).
    """

    model_config = _FROZEN
    model: str
    breaker: BreakerStateName | None = Field(description="None: circuit breakers are off")
    calls: int | None
    failures: int | None
    error_rate: float | None = Field(description="failures / calls; None without calls")
    window_s: float


class RedisHealth(BaseModel):
    """One Redis server (a distinct URL) and the components that use it."""

    model_config = _FROZEN
    url: str = Field(description="the URL with its password masked")
    used_by: list[str] = Field(description="cache, budgets, limits")
    reachable: bool
    latency_ms: float | None = Field(description="connect and PING on a fresh connection")
    error: str | None = None
    breakers: dict[str, BreakerStateName] = Field(
        default_factory=dict,
        description="each component's breaker on this store: open means it is being skipped",
    )


class DatabaseHealth(BaseModel):
    """One database (a distinct URL) and the components that use it."""

    model_config = _FROZEN
    url: str = Field(description="the URL with its password masked")
    backend: str = Field(description="sqlite or postgresql")
    used_by: list[str] = Field(description="ledger, audit, budgets")
    reachable: bool
    latency_ms: float | None = Field(description="connect and SELECT 1 on a fresh connection")
    error: str | None = None
    breakers: dict[str, BreakerStateName] = Field(
        default_factory=dict,
        description="each component's breaker on this store: open means it is being skipped",
    )


class OutboxHealth(BaseModel):
    """The ledger's outbox: records written locally and not yet in the database.

    A healthy outbox holds the last fraction of a second of records. The directory is shared
    by every process of the machine writing to the same database, so this is their backlog.
    """

    model_config = _FROZEN
    directory: str
    segments: int
    records: int
    bytes: int
    oldest_age_s: float | None = Field(
        description="seconds since the oldest waiting segment was last written"
    )
    records_estimated: bool = Field(
        default=False, description="a large backlog's records are estimated from its size"
    )


class BudgetHealth(BaseModel):
    """One budget's current window."""

    model_config = _FROZEN
    budget: str = Field(description="its name, e.g. org:acme/day")
    subject: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    used_pct: float = Field(description="spent / limit, percent (100 for a zero limit)")
    resets_at: datetime | None
    source: Literal["store", "last_seen"] = Field(
        description="store: read now; last_seen: the store did not answer, as this process "
        "last saw it"
    )


class HealthReport(BaseModel):
    """The health of one muxer and of what it depends on: ``muxer.health()``.

    ``status`` is the worst of the parts, and ``reasons`` says why it is not ``ok``. Serve
    :meth:`to_dict` as JSON from a readiness endpoint with :attr:`http_status`.
    """

    model_config = _FROZEN
    status: HealthStatus
    reasons: list[str]
    checked_at: datetime
    duration_ms: float
    models: list[ModelHealth]
    redis: list[RedisHealth]
    databases: list[DatabaseHealth]
    outbox: OutboxHealth | None
    budgets: list[BudgetHealth]

    @property
    def http_status(self) -> int:
        """200 while the process can serve (``ok``, ``degraded``), 503 when it is ``down``."""
        return 503 if self.status == "down" else 200

    @property
    def exit_code(self) -> int:
        """0 ``ok``, 1 ``degraded``, 2 ``down`` (what ``modelmuxer health`` exits with)."""
        return {"ok": 0, "degraded": 1, "down": 2}[self.status]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (no password, no prompt text)."""
        return self.model_dump(mode="json")
