"""The audit log's table, ``audit_log``, in the ledger's database (and on its metadata, so the
ledger's migrations create and check it).

One row per request, in append order: ``seq`` counts from 1 without gaps; ``prev_hash`` is
the previous row's ``hash`` (64 zeros for the first); ``hash`` covers the row's content and
``prev_hash`` (see :mod:`modelmuxer.audit.chain`). Both hashes are unique, so two rows can never
follow the same row: the chain cannot fork, whatever the writers do.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelmuxer.ledger.models import Base, Money, UTCDateTime

__all__ = ["AuditRow"]


class AuditRow(Base):
    """One request: who asked, what was decided and why, what it cost, how it ended."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user: Mapped[str | None] = mapped_column(String)
    org: Mapped[str | None] = mapped_column(String)
    project: Mapped[str | None] = mapped_column(String)
    role: Mapped[str | None] = mapped_column(String)
    tags: Mapped[list[str]] = mapped_column(JSON)
    strategy: Mapped[str | None] = mapped_column(String)
    models: Mapped[list[str]] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(Text)
    cache: Mapped[str] = mapped_column(String)
    cost_usd: Mapped[Decimal] = mapped_column(Money)
    outcome: Mapped[str] = mapped_column(String)
    error_type: Mapped[str | None] = mapped_column(String)
    pii_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    policies: Mapped[list[str]] = mapped_column(JSON)
    prompt: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
