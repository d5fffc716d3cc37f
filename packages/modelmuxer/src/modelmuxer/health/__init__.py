"""Health: what a readiness probe, a load balancer or an operator asks a muxer.

``muxer.health()`` (and ``await muxer.ahealth()``, ``modelmuxer health``) returns a
:class:`HealthReport`: each model's circuit breaker and recent error rate, each Redis server and
database the muxer uses (reachable, latency), the ledger's outbox backlog and each budget's
headroom, with an overall ``status`` (``ok`` / ``degraded`` / ``down``) and the reasons for it.
See ``docs/operations.md``.
"""

from __future__ import annotations

from modelmuxer.health.checker import HealthChecker, LocalGauges
from modelmuxer.health.report import (
    BudgetHealth,
    DatabaseHealth,
    HealthReport,
    HealthStatus,
    ModelHealth,
    OutboxHealth,
    RedisHealth,
)
from modelmuxer.health.settings import HealthSettings

__all__ = [
    "BudgetHealth",
    "DatabaseHealth",
    "HealthChecker",
    "HealthReport",
    "HealthSettings",
    "HealthStatus",
    "LocalGauges",
    "ModelHealth",
    "OutboxHealth",
    "RedisHealth",
]
