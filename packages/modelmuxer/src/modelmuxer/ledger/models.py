"""The ledger's tables: one row per model call, and feedback on answers.

Money is exact: :class:`Money` stores USD as ``NUMERIC(20, 12)`` where the database has an exact
decimal type, and as an integer count of 1e-12 USD on SQLite (whose NUMERIC is a float), so
``SUM`` is exact on both and reads back as :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

__all__ = ["USD_QUANTUM", "Base", "CallRow", "FeedbackRow", "Money", "UTCDateTime", "to_usd"]

#: The smallest amount the ledger stores: costs are rounded half-even to 1e-12 USD.
USD_QUANTUM = Decimal("1e-12")
_PICO = Decimal(10) ** 12


def to_usd(value: Decimal | float | int | str) -> Decimal:
    """``value`` as an exact USD amount, rounded half-even to :data:`USD_QUANTUM`.

    A float is read through its shortest repr (``0.1`` -> ``Decimal("0.1")``), never its binary
    expansion.
    """
    amount = (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )
    return amount.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator[Decimal]):
    """An exact USD amount: NUMERIC(20, 12), or integer pico-dollars on SQLite."""

    impl = Numeric(20, 12)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, 12, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_usd(value)
        return int(amount * _PICO) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _PICO).quantize(USD_QUANTUM)
        return to_usd(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC: stored naive in UTC, read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of the ledger's tables (their own metadata)."""

    metadata = MetaData()


class CallRow(Base):
    """One model call: a success, an escalated cascade step, a failure, a cancelled stream, or
    a cache hit (cost 0, ``saved_usd`` what the call would have cost).

    ``cost_if_strongest_usd`` / ``cost_if_named_usd`` are what this call would have cost had the
    request gone to the strongest candidate / to the model the caller named: the same tokens at
    that model's prices for the call that answered, 0 for an escalated cascade step (that
    counterfactual makes one call), ``NULL`` when unknown.
    """

    __tablename__ = "ledger_calls"

    request_id: Mapped[str] = mapped_column(String, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user: Mapped[str | None] = mapped_column(String)
    org: Mapped[str | None] = mapped_column(String)
    project: Mapped[str | None] = mapped_column(String)
    role: Mapped[str | None] = mapped_column(String)
    tags: Mapped[list[str]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    provider: Mapped[str] = mapped_column(String)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[Decimal] = mapped_column(Money)
    latency_s: Mapped[float] = mapped_column(Float)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    streamed: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String)
    error: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    cache: Mapped[str] = mapped_column(String)
    saved_usd: Mapped[Decimal] = mapped_column(Money)
    strongest_model: Mapped[str | None] = mapped_column(String)
    cost_if_strongest_usd: Mapped[Decimal | None] = mapped_column(Money)
    named_model: Mapped[str | None] = mapped_column(String)
    cost_if_named_usd: Mapped[Decimal | None] = mapped_column(Money)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    prompt: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_ledger_calls_user_started", "user", "started_at"),
        Index("ix_ledger_calls_org_started", "org", "started_at"),
        Index("ix_ledger_calls_project_started", "project", "started_at"),
    )


class FeedbackRow(Base):
    """A score given to an answer (thumbs up = 1, down = 0, or any score in [0, 1])."""

    __tablename__ = "ledger_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String, index=True)
    attempt: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String)
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
