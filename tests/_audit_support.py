"""Helpers of the audit log tests (``from _audit_support import ...``): entry bodies, reading
the table back, and tampering with it as an intruder with database access would."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from modelmuxer.audit.chain import Body, entry_hash, row_of_body
from modelmuxer.audit.models import AuditRow
from modelmuxer.audit.settings import AuditSettings
from modelmuxer.ledger.engine import make_engine

__all__ = [
    "audit_settings",
    "execute",
    "fetch_audit",
    "insert_forged",
    "make_body",
]


def make_body(n: int = 0, **fields: Any) -> Body:
    """A valid entry body; ``n`` varies the request id and the cost."""
    body: Body = {
        "request_id": f"req-{n}-{uuid.uuid4().hex[:8]}",
        "at": "2026-03-01T12:00:00.000000Z",
        "user": "alice",
        "org": "acme",
        "project": None,
        "role": "dev",
        "tags": ["beta"],
        "strategy": "hybrid",
        "models": ["offline/openai/gpt-4o-mini"],
        "model": "offline/openai/gpt-4o-mini",
        "reason": "cheapest good enough",
        "cache": "off",
        "cost_usd": f"0.{n + 1:012d}",
        "outcome": "ok",
        "error_type": None,
        "pii_counts": {"email": 1},
        "policies": ["everyone"],
        "prompt": None,
    }
    body.update(fields)
    return body


def audit_settings(url: str, tmp_path: Path, **fields: Any) -> AuditSettings:
    """Audit settings on ``url`` with a spool under ``tmp_path`` and no key from the env."""
    values: dict[str, Any] = {
        "enabled": True,
        "url": url,
        "hmac_key_env": None,
        "flush_interval_s": 0.05,
        "retry_interval_s": 0.05,
        "spool_dir": tmp_path / "spool",
    }
    values.update(fields)
    return AuditSettings(**values)


async def _fetch(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            table = AuditRow.__table__
            result = await conn.execute(select(table).order_by(table.c.seq))  # type: ignore[attr-defined]
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def fetch_audit(url: str) -> list[dict[str, Any]]:
    """Every audit row at ``url``, by seq."""
    return asyncio.run(_fetch(url))


async def _execute(url: str, statements: tuple[str, ...]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run SQL statements in one transaction (an intruder's UPDATE / DELETE)."""
    asyncio.run(_execute(url, statements))


async def _insert(url: str, row: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(AuditRow.__table__), [row])  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def insert_forged(url: str, seq: int, *, prev_hash: str | None = None, **fields: Any) -> str:
    """Insert a row at ``seq`` whose hash is right for its content (plain SHA-256, as an
    intruder without the HMAC key computes it); its hash."""
    body = make_body(seq, reason="forged", **fields)
    prev = prev_hash or secrets.token_hex(32)
    digest = entry_hash(body, prev, None)
    row = {**row_of_body(body), "seq": seq, "prev_hash": prev, "hash": digest}
    asyncio.run(_insert(url, row))
    return digest
