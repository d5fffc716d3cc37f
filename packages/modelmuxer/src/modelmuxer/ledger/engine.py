"""Async engines for the ledger's database: SQLite (a file) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from modelmuxer.errors import ConfigError
from modelmuxer.transport import PostgresTLS, postgres_connect_args

__all__ = ["make_engine"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (reports) do not block the writer; busy_timeout: processes sharing the file
    # wait for each other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, tls: PostgresTLS | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; a SQLite file's directory is created when missing.

    A PostgreSQL URL connects with ``tls`` (its ``sslmode`` and certificates; the URL's own
    ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey`` query parameters win): see
    :func:`~modelmuxer.transport.postgres_connect_args`.

    :raises ConfigError: the url is not an async SQLAlchemy url (``sqlite+aiosqlite:///...``,
        ``postgresql+asyncpg://...`` or ``postgresql+psycopg://...``); TLS is required and the
        url may connect in plain text; a certificate file cannot be loaded.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"ledger url: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            raise ConfigError("ledger url: use the async SQLite driver, 'sqlite+aiosqlite:///PATH'")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("asyncpg", "psycopg"):
            raise ConfigError(
                "ledger url: use an async PostgreSQL driver, 'postgresql+asyncpg://...' "
                "or 'postgresql+psycopg://...'"
            )
        kwargs.setdefault("pool_pre_ping", True)
        parsed, connect = postgres_connect_args(parsed, tls, setting="ledger url")
        # a stopped server must fail fast: the writer retries, the outbox keeps the records
        timeout = {"asyncpg": "timeout", "psycopg": "connect_timeout"}[parsed.get_driver_name()]
        kwargs["connect_args"] = {timeout: 5, **connect, **kwargs.get("connect_args", {})}
    try:
        engine = create_async_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"ledger url: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine
