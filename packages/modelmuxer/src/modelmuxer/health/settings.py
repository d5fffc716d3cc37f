"""How health is checked: :class:`HealthSettings` (the ``health`` field of ``MuxerSettings``).

Importing this module imports pydantic only.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HealthSettings"]


class HealthSettings(BaseModel):
    """What ``muxer.health()`` probes, how long it waits, and what it calls degraded.

    Every probe (a Redis ``PING``, a database ``SELECT 1``, the budgets' usage, the outbox
    directory) runs at the same time as the others and is given ``probe_timeout_s``; one that
    has not answered by then is reported unreachable, so a check takes about that long at most.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    probe_timeout_s: float = Field(
        default=0.5, gt=0.0, le=10.0, description="longest wait for each probe (they run at once)"
    )
    window_s: float = Field(
        default=300.0,
        gt=0.0,
        le=86_400.0,
        description="each model's calls and error rate are counted over this many seconds",
    )
    error_rate_degraded: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="a model failing at least this share of its recent calls makes the "
        "status degraded",
    )
    min_calls: int = Field(
        default=5, ge=1, description="fewer recent calls than this say nothing about a model"
    )
    outbox_max_age_s: float = Field(
        default=120.0,
        gt=0.0,
        description="a ledger outbox segment waiting longer than this makes the status degraded "
        "(records are not reaching the database)",
    )
