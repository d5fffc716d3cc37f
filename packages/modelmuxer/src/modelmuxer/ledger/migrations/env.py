"""Alembic environment of the ledger: runs on the connection :mod:`modelmuxer.ledger.migrate`
passes in (``config.attributes["connection"]``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

import modelmuxer.audit.models  # noqa: F401  the audit log's table lives in the ledger's database
from modelmuxer.ledger.models import Base

#: the ledger keeps its own version table, so it can share a database with an application's
VERSION_TABLE = "ledger_alembic_version"
#: serialises concurrent upgrades on PostgreSQL (several workers starting at once)
_ADVISORY_LOCK = 0x6D6D_6C64  # "mmld"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "the ledger's migrations run through 'modelmuxer db upgrade' or "
        "modelmuxer.ledger.migrate.upgrade(url), not the alembic command"
    )
_run(_connection)
