"""Schema migrations (Alembic, shipped inside the package): upgrade and read the revision."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from modelmuxer.ledger.engine import make_engine

__all__ = ["acurrent", "adowngrade", "aupgrade", "current", "downgrade", "head", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"
_VERSION_TABLE = "ledger_alembic_version"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this version of ModelMuxer ships."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


async def aupgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (idempotent). Concurrent upgrades wait for each
    other: on an advisory lock on PostgreSQL, on a lock file beside a SQLite database."""
    async with _alembic_turn(), _sqlite_lock(engine), engine.connect() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))
        await conn.commit()


#: Alembic keeps the running migration in module-level proxies (``alembic.context``,
#: ``alembic.op``): two threads migrating at once would run on each other's connections. So
#: migrations in one process take turns; this lock is the only state of the module.
_ALEMBIC = threading.Lock()


@asynccontextmanager
async def _alembic_turn() -> AsyncIterator[None]:
    await asyncio.to_thread(_ALEMBIC.acquire)  # waits in a worker thread, not on the loop
    try:
        yield
    finally:
        _ALEMBIC.release()


@asynccontextmanager
async def _sqlite_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


async def adowngrade(engine: AsyncEngine, revision: str) -> None:
    """Revert the migrations down to ``revision`` (``"base"``: drop the ledger's tables)."""
    async with _alembic_turn(), _sqlite_lock(engine), engine.connect() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_config(sync), revision))
        await conn.commit()


async def acurrent(engine: AsyncEngine) -> str | None:
    """The database's revision, or ``None`` when it has never been migrated."""

    def read(sync: Connection) -> str | None:
        context = MigrationContext.configure(sync, opts={"version_table": _VERSION_TABLE})
        return context.get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def _with_engine_upgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        await aupgrade(engine, revision)
    finally:
        await engine.dispose()


async def _with_engine_downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        await adowngrade(engine, revision)
    finally:
        await engine.dispose()


async def _with_engine_current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return await acurrent(engine)
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Sync twin of :func:`aupgrade` for a url (runs its own event loop)."""
    asyncio.run(_with_engine_upgrade(url, revision))


def downgrade(url: str, revision: str) -> None:
    """Sync twin of :func:`adowngrade` for a url."""
    asyncio.run(_with_engine_downgrade(url, revision))


def current(url: str) -> str | None:
    """Sync twin of :func:`acurrent` for a url."""
    return asyncio.run(_with_engine_current(url))
