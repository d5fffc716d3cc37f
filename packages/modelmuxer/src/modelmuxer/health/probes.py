"""The probes of a health check: a Redis ``PING``, a database ``SELECT 1``, the outbox directory.

Each probe opens a fresh connection with timeouts of its own and closes it: a check measures the
store as a new client sees it, and shares no connection (nor event loop) with the components.
redis-py and SQLAlchemy are imported only by the probes that use them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from modelmuxer.transport import PostgresTLS, RedisTLS

__all__ = ["Backlog", "outbox_backlog", "outbox_bytes", "ping_redis", "select_one"]

#: a backlog larger than this is not read through: its records are estimated from its size
_COUNT_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


async def ping_redis(
    url: str, timeout_s: float, *, tls: RedisTLS | None = None, setting: str = "redis url"
) -> float:
    """Connect to the Redis at ``url`` and ``PING`` it; the milliseconds both took.

    ``tls``: the options of a ``rediss://`` URL, as the components use them (``setting``
    names the URL in errors).

    :raises Exception: whatever redis-py raises when it cannot (a timeout included).
    """
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from modelmuxer.transport import redis_connection_kwargs

    client = Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        **redis_connection_kwargs(url, tls, setting=setting),
    )
    try:
        t0 = time.perf_counter()
        pong: Any = client.ping()  # typed sync-or-async by redis-py
        await pong
        return _ms(t0)
    finally:
        await client.aclose()


async def select_one(
    url: str, timeout_s: float, *, tls: PostgresTLS | None = None, setting: str = "database url"
) -> float:
    """Connect to the database at ``url`` (an async SQLAlchemy URL) and run ``SELECT 1``; the
    milliseconds both took.

    A SQLite file is opened read-only (a check never creates or changes it); a file that does
    not exist yet counts as reachable when its directory is writable (the ledger creates it).
    ``tls``: how PostgreSQL is reached, as the components reach it (``setting`` names the URL
    in errors).
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return await asyncio.to_thread(_sqlite_select_one, parsed.database, timeout_s)
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from modelmuxer.transport import postgres_connect_args

    parsed, connect_args = postgres_connect_args(parsed, tls, setting=setting)
    if parsed.get_driver_name() == "psycopg":
        connect_args["connect_timeout"] = max(1, round(timeout_s))  # libpq: whole seconds
    else:
        connect_args["timeout"] = timeout_s
    engine = create_async_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    try:
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return _ms(t0)
    finally:
        await engine.dispose()


def _sqlite_select_one(database: str | None, timeout_s: float) -> float:
    t0 = time.perf_counter()
    if not database or database == ":memory:":
        return _ms(t0)
    path = Path(database).expanduser()
    if not path.exists():
        parent = path.parent
        if parent.is_dir() and os.access(parent, os.W_OK):
            return _ms(t0)  # the ledger creates the file when it first writes
        raise FileNotFoundError(f"{path} does not exist and {parent} is not a writable directory")
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout_s)
    try:
        conn.execute("SELECT 1").fetchone()
    finally:
        conn.close()
    return _ms(t0)


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in an outbox directory."""

    segments: int
    records: int
    bytes: int
    oldest_age_s: float | None
    records_estimated: bool


def _waiting(directory: Path) -> list[os.stat_result]:
    """The stats of the non-empty segment files of ``directory`` (none when it is missing).

    An empty segment is a live ledger's fresh current segment: nothing waits in it.
    """
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    stats = []
    for entry in entries:
        if not entry.name.endswith(".jsonl") or entry.name.startswith("."):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:  # written and deleted meanwhile
            continue
        if stat.st_size > 0:
            stats.append(stat)
    return stats


def outbox_bytes(directory: Path) -> int:
    """Bytes of records waiting in the outbox ``directory`` (no file is read)."""
    return sum(stat.st_size for stat in _waiting(directory))


def outbox_backlog(directory: Path, now: float | None = None) -> Backlog:
    """Segments, records (lines), bytes and the age of the oldest segment of the outbox.

    Lines are counted in the first 16 MiB; beyond that the records are estimated from the
    average line of what was read (``records_estimated``).
    """
    now = time.time() if now is None else now
    stats = _waiting(directory)
    total = sum(stat.st_size for stat in stats)
    lines = read = 0
    for path in sorted(directory.glob("*.jsonl")):
        if read >= _COUNT_BYTES:
            break
        try:
            with path.open("rb") as fh:
                while read < _COUNT_BYTES and (chunk := fh.read(_CHUNK)):
                    lines += chunk.count(b"\n")
                    read += len(chunk)
        except FileNotFoundError:
            continue
    estimated = read < total
    records = round(lines * total / read) if estimated and read else lines
    oldest = min((stat.st_mtime for stat in stats), default=None)
    return Backlog(
        segments=len(stats),
        records=records,
        bytes=total,
        oldest_age_s=None if oldest is None else round(max(now - oldest, 0.0), 3),
        records_estimated=estimated,
    )
