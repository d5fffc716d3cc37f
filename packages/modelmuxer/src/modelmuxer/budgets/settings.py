"""Budgets as configured: :class:`BudgetSettings` (the ``budgets`` field of ``MuxerSettings``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelmuxer._secrets import SecretUrl
from modelmuxer._shared import OnUnavailable
from modelmuxer.budgets.base import BudgetStore, Clock, system_clock
from modelmuxer.budgets.model import Budget
from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from modelmuxer.transport import TLSSettings

__all__ = ["BudgetSettings"]


class BudgetSettings(BaseModel):
    """Which budgets, where their counters live, and how routing reacts as they run low.

    ``backend`` is ``memory`` (one process), a Redis URL (``redis://host:6379/0``) or an async
    SQLAlchemy PostgreSQL URL (``postgresql+asyncpg://user@host/db``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool | None = Field(
        default=None, description="guard calls; default: on when any budget is configured"
    )
    backend: SecretUrl = Field(
        default=SecretUrl("memory"),
        description="memory, or a Redis / PostgreSQL URL (its password is masked when shown)",
    )
    budgets: list[Budget] = Field(default_factory=list, description="the spending limits")
    namespace: str = Field(
        default="modelmuxer:budgets", min_length=1, description="Redis key prefix"
    )
    table_prefix: str = Field(
        default="modelmuxer_budget",
        pattern=r"^[a-z_][a-z0-9_]{0,40}$",
        description="PostgreSQL tables <prefix>_counters and <prefix>_leases",
    )
    lease_s: float = Field(
        default=600.0, gt=0.0, description="longest a reservation is held; outlast any call"
    )
    low_water: float = Field(
        default=0.5, ge=0.0, le=1.0, description="below this fraction left, prefer cheaper models"
    )
    timeout_s: float = Field(
        default=0.2, gt=0.0, le=30.0, description="timeout of every Redis / PostgreSQL operation"
    )
    on_unavailable: OnUnavailable = Field(
        default="open",
        description="store unreachable: 'open' admits calls without budgets, 'closed' refuses "
        "them (SharedStateUnavailable)",
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="consecutive store failures that open the breaker"
    )
    breaker_cooldown_s: float = Field(
        default=5.0, gt=0.0, description="how long the store is skipped before a probe"
    )

    @field_validator("budgets")
    @classmethod
    def _each_budget_once(cls, budgets: list[Budget]) -> list[Budget]:
        """Two budgets of one name (scope, subject, period) would be one: the last would
        replace the first unnoticed."""
        seen: dict[str, Budget] = {}
        for budget in budgets:
            if (first := seen.setdefault(budget.name, budget)) is not budget:
                raise ValueError(
                    f"budget {budget.name!r} is configured twice (limit_usd "
                    f"{first.limit_usd} and {budget.limit_usd}); keep one, or change its "
                    "scope, subject or period"
                )
        return budgets

    @property
    def active(self) -> bool:
        """Whether a muxer builds a guard (``enabled``, or budgets configured)."""
        return bool(self.budgets) if self.enabled is None else self.enabled

    @property
    def backend_kind(self) -> Literal["memory", "redis", "postgresql"] | None:
        """Which kind of store ``backend`` names (``None``: none this version knows)."""
        backend = self.backend.get_secret_value()
        if backend == "memory":
            return "memory"
        if backend.startswith(("redis://", "rediss://", "unix://")):
            return "redis"
        if backend.startswith("postgresql"):
            return "postgresql"
        return None

    def build_store(
        self, clock: Clock = system_clock, tls: TLSSettings | None = None
    ) -> BudgetStore:
        """The store ``backend`` names (connections open lazily, at first use); ``tls``: the
        muxer's TLS settings (its ``redis`` or ``postgres`` part applies).

        :raises ConfigError: ``backend`` names no store this version knows, or TLS is
            required and ``backend`` would connect in plain text.
        """
        backend = self.backend.get_secret_value()
        if backend == "memory":
            from modelmuxer.budgets.memory import MemoryBudgetStore

            return MemoryBudgetStore(clock=clock)
        if backend.startswith(("redis://", "rediss://", "unix://")):
            from modelmuxer.budgets.redis import RedisBudgetStore

            return RedisBudgetStore(
                backend,
                namespace=self.namespace,
                clock=clock,
                timeout_s=self.timeout_s,
                tls=None if tls is None else tls.redis,
            )
        if backend.startswith("postgresql"):
            from modelmuxer.budgets.postgres import PostgresBudgetStore

            return PostgresBudgetStore(
                backend,
                table_prefix=self.table_prefix,
                clock=clock,
                timeout_s=self.timeout_s,
                tls=None if tls is None else tls.postgres,
            )
        raise ConfigError(
            f"budgets.backend {str(self.backend)!r}: use 'memory', a redis:// URL or a "
            "postgresql+asyncpg:// URL"
        )
