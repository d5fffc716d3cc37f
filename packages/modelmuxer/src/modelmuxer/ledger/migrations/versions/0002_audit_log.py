"""The audit log's table: audit_log (one hash-chained row per request).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from modelmuxer.ledger.models import Money, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("user", sa.String()),
        sa.Column("org", sa.String()),
        sa.Column("project", sa.String()),
        sa.Column("role", sa.String()),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("strategy", sa.String()),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("model", sa.String()),
        sa.Column("reason", sa.Text),
        sa.Column("cache", sa.String(), nullable=False),
        sa.Column("cost_usd", Money(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error_type", sa.String()),
        sa.Column("pii_counts", sa.JSON, nullable=False),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("prompt", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
