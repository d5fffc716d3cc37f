"""Appending to the chain, safely under concurrency, and reading it back in order.

An append is one transaction: take the writers' lock, read the head (the row with the highest
``seq``), chain the new entries onto it, insert them, commit. The lock is
``pg_advisory_xact_lock`` on PostgreSQL (every process and machine sharing the database waits
its turn) and ``BEGIN IMMEDIATE`` on SQLite (the database's write lock, taken before the head is
read). Should a writer ever read a stale head anyway, the unique ``seq``, ``prev_hash`` and
``hash`` make its insert fail instead of forking the chain, and it retries on the new head.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from modelmuxer.audit.chain import GENESIS, Body, entry_hash, row_of_body
from modelmuxer.audit.models import AuditRow

__all__ = ["Head", "append_entries", "find_seq", "read_head", "read_rows"]

#: ``pg_advisory_xact_lock`` key of the audit writers ("mmau")
_ADVISORY_LOCK = 0x6D6D_6175
_ATTEMPTS = 50
_TABLE: Table = AuditRow.__table__  # type: ignore[assignment]

Head = tuple[int, str]


async def read_head(conn: AsyncConnection) -> Head:
    """``(seq, hash)`` of the last row; ``(0, GENESIS)`` for an empty log."""
    result = await conn.execute(
        select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)
    )
    row = result.first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


async def _take_the_lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    elif conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def append_entries(engine: AsyncEngine, bodies: Sequence[Body], key: bytes | None) -> Head:
    """Chain ``bodies`` onto the log in one transaction; the new head.

    Retries (with a short random pause) when another writer got there first or SQLite is busy.
    """
    if not bodies:
        async with engine.connect() as conn:
            return await read_head(conn)
    for attempt in range(_ATTEMPTS):
        try:
            async with engine.connect() as conn:
                await _take_the_lock(conn)
                seq, prev = await read_head(conn)
                rows: list[dict[str, Any]] = []
                for body in bodies:
                    seq += 1
                    digest = entry_hash(body, prev, key)
                    rows.append(
                        {**row_of_body(body), "seq": seq, "prev_hash": prev, "hash": digest}
                    )
                    prev = digest
                await conn.execute(insert(_TABLE), rows)
                await conn.commit()
                return seq, prev
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
        except OperationalError as exc:  # SQLite: "database is locked" past busy_timeout
            if "locked" not in str(exc) or attempt == _ATTEMPTS - 1:
                raise
        await asyncio.sleep(random.uniform(0.001, 0.02) * (1 + attempt))
    raise AssertionError("unreachable")  # pragma: no cover


async def read_rows(engine: AsyncEngine, *, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Every row, by ``seq``, a page at a time (the log may be larger than memory)."""
    after = None
    while True:
        query = select(_TABLE).order_by(_TABLE.c.seq).limit(page)
        if after is not None:
            query = query.where(_TABLE.c.seq > after)
        async with engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(query)]
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = rows[-1]["seq"]


async def find_seq(engine: AsyncEngine, row_hash: str) -> int | None:
    """The ``seq`` of the row whose hash is ``row_hash`` (``None``: no such row); one lookup
    on the unique index of ``hash``."""
    async with engine.connect() as conn:
        result = await conn.execute(select(_TABLE.c.seq).where(_TABLE.c.hash == row_hash))
        found = result.scalar_one_or_none()
    return None if found is None else int(found)
