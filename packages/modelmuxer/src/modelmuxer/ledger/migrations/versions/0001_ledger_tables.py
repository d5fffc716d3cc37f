"""The ledger's tables: ledger_calls and ledger_feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from modelmuxer.ledger.models import Money, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_calls",
        sa.Column("request_id", sa.String(), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("user", sa.String()),
        sa.Column("org", sa.String()),
        sa.Column("project", sa.String()),
        sa.Column("role", sa.String()),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", Money(), nullable=False),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("ttft_s", sa.Float),
        sa.Column("streamed", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("cache", sa.String(), nullable=False),
        sa.Column("saved_usd", Money(), nullable=False),
        sa.Column("strongest_model", sa.String()),
        sa.Column("cost_if_strongest_usd", Money()),
        sa.Column("named_model", sa.String()),
        sa.Column("cost_if_named_usd", Money()),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("prompt", sa.Text),
    )
    op.create_index("ix_ledger_calls_started_at", "ledger_calls", ["started_at"])
    op.create_index("ix_ledger_calls_user_started", "ledger_calls", ["user", "started_at"])
    op.create_index("ix_ledger_calls_org_started", "ledger_calls", ["org", "started_at"])
    op.create_index("ix_ledger_calls_project_started", "ledger_calls", ["project", "started_at"])
    op.create_table(
        "ledger_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_feedback_request_id", "ledger_feedback", ["request_id"])


def downgrade() -> None:
    op.drop_table("ledger_feedback")
    op.drop_table("ledger_calls")
