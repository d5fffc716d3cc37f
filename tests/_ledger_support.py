"""Helpers of the ledger tests (``from _ledger_support import ...``): records, settings,
a throwaway PostgreSQL database, reading the rows back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from modelmuxer.ledger import CallRow, LedgerSettings
from modelmuxer.ledger.engine import make_engine
from modelmuxer.types import CallRecord, Identity, Usage

__all__ = [
    "afetch_rows",
    "fetch_rows",
    "make_record",
    "scratch_database",
    "sqlite_settings",
]


def make_record(request_id: str | None = None, attempt: int = 0, **fields: Any) -> CallRecord:
    """A finished call with sensible defaults; any field can be overridden."""
    values: dict[str, Any] = {
        "request_id": request_id or uuid.uuid4().hex,
        "attempt": attempt,
        "started_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "identity": Identity(user="alice", org="acme", project="search", role="dev"),
        "tags": frozenset({"t1"}),
        "strategy": "hybrid",
        "model": "offline/openai/gpt-4o-mini",
        "provider": "openai",
        "usage": Usage(prompt_tokens=100, completion_tokens=50),
        "cost_usd": 0.000045,
        "latency_s": 0.01,
        "outcome": "ok",
        "reason": "cheapest good enough",
        "features": {"task_type": "qa", "complexity": 0.2},
    }
    values.update(fields)
    return CallRecord(**values)


def sqlite_settings(tmp_path: Path, **fields: Any) -> LedgerSettings:
    """Ledger settings writing to a SQLite file and an outbox under ``tmp_path``."""
    values: dict[str, Any] = {
        "enabled": True,
        "url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        "outbox_dir": tmp_path / "outbox",
        "flush_interval_s": 0.05,
        "retry_interval_s": 0.1,
    }
    values.update(fields)
    return LedgerSettings(**values)


async def afetch_rows(url: str) -> list[dict[str, Any]]:
    """Every ledger_calls row at ``url``, as dicts (async)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(CallRow.__table__))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def fetch_rows(url: str) -> list[dict[str, Any]]:
    """Every ledger_calls row at ``url``, as dicts."""
    return asyncio.run(afetch_rows(url))


async def _admin(url: str, statement: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def scratch_database(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server (dropped afterwards): its url."""
    name = f"mm_ledger_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_url).set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
