"""Budget counters in PostgreSQL, shared by every process: conditional upserts in one transaction.

``reserve`` runs, per counter and in key order (so concurrent reservations lock rows in the same
order), one statement that adds the amount only where the limit holds::

    INSERT INTO <t>_counters (key, spent, reserved) VALUES (:key, 0, :amount)
    ON CONFLICT (key) DO UPDATE SET reserved = c.reserved + excluded.reserved
        WHERE c.spent + c.reserved + excluded.reserved <= :limit
    RETURNING spent, reserved

No row back means the limit would be exceeded: the transaction rolls back, so a reservation
over several budgets is all or nothing. Deadlocks and serialization failures are retried.

A settled reservation's id is kept in ``<t>_settled`` for a while after its lease: settling it
again changes nothing (a settlement whose answer was lost in an outage is retried, and the
first attempt may have committed after all).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from modelmuxer.budgets.base import Clock, CounterFull, Reservation, system_clock
from modelmuxer.budgets.model import Counter, CounterUsage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from modelmuxer.transport import PostgresTLS

__all__ = ["PostgresBudgetStore", "unavailable_errors"]

_T = TypeVar("_T")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure
_ATTEMPTS = 5
#: how long after its lease a settled reservation is remembered (settling it again is a no-op)
_SETTLED_KEPT_S = 600.0


class PostgresBudgetStore:
    """A :class:`~modelmuxer.budgets.BudgetStore` in PostgreSQL (SQLAlchemy async, asyncpg).

    :param url: an async SQLAlchemy URL, ``postgresql+asyncpg://user@host/db`` (or ``engine``).
    :param table_prefix: the tables are ``<prefix>_counters`` and ``<prefix>_leases``, created
        on first use.
    :param sweep_interval_s: expired leases are reclaimed before a reservation at most this
        often per process (0: before every reservation).
    :param timeout_s: connect timeout of the engine built from ``url`` (``None``: asyncpg's);
        the guard also bounds each operation.
    :param tls: sslmode and certificates (:func:`~modelmuxer.transport.postgres_connect_args`;
        the URL's own ``sslmode`` / ``sslrootcert`` / ... win).
    :raises ConfigError: TLS is required and ``url`` may connect in plain text, or a
        certificate file cannot be loaded.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: AsyncEngine | None = None,
        table_prefix: str = "modelmuxer_budget",
        sweep_interval_s: float = 5.0,
        clock: Clock = system_clock,
        timeout_s: float | None = None,
        tls: PostgresTLS | None = None,
    ) -> None:
        if not _NAME.fullmatch(table_prefix):
            raise ValueError(f"table_prefix {table_prefix!r}: use lower-case letters, digits, _")
        if engine is None:
            if url is None:
                raise ValueError("PostgresBudgetStore needs a url or an engine")
            from sqlalchemy.ext.asyncio import create_async_engine

            from modelmuxer.transport import postgres_connect_args

            target, connect = postgres_connect_args(url, tls, setting="budgets.backend")
            if timeout_s is not None:
                connect["timeout"] = timeout_s
            engine = create_async_engine(
                target, pool_size=10, max_overflow=10, connect_args=connect
            )
        self._engine = engine
        self._counters = f"{table_prefix}_counters"
        self._leases = f"{table_prefix}_leases"
        self._settled = f"{table_prefix}_settled"
        self._sweep_interval_s = sweep_interval_s
        self._swept_at = float("-inf")
        self._clock = clock
        self._ready = False
        self._ready_lock = asyncio.Lock()

    # -- the store operations ---------------------------------------------------------------

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], amount: Decimal, lease_s: float
    ) -> Reservation:
        await self._prepare()
        now = self._clock()
        if now - self._swept_at >= self._sweep_interval_s:
            self._swept_at = now
            await self.reclaim_expired()
        for counter in counters:
            if amount > counter.limit:  # a fact about the arguments, not about stored state
                raise CounterFull(counter, (await self.usage([counter]))[0], amount)
        expires_at = now + lease_s

        async def attempt(conn: AsyncConnection) -> tuple[CounterUsage, ...]:
            return await self._reserve_in(conn, reservation_id, counters, amount, expires_at)

        usage = await self._transaction(attempt)
        return Reservation(reservation_id, tuple(counters), amount, expires_at, usage)

    async def settle(self, reservation: Reservation, actual: Decimal) -> tuple[CounterUsage, ...]:
        await self._prepare()

        now = self._clock()
        lease_end = reservation.expires_at if math.isfinite(reservation.expires_at) else now
        done_until = max(lease_end, now) + _SETTLED_KEPT_S

        async def attempt(conn: AsyncConnection) -> tuple[CounterUsage, ...]:
            if not await self._mark_settled(conn, reservation.id, done_until):
                return await self._usage_in(conn, reservation.counters)
            held = await self._drop_leases(conn, "id = :id", {"id": reservation.id})
            changes = {c.key: (-held.get(c.key, Decimal(0)), actual) for c in reservation.counters}
            after = await self._apply(conn, changes)
            return tuple(after[c.key] for c in reservation.counters)

        return await self._transaction(attempt)

    async def release(self, reservation: Reservation) -> tuple[CounterUsage, ...]:
        await self._prepare()

        async def attempt(conn: AsyncConnection) -> None:
            held = await self._drop_leases(conn, "id = :id", {"id": reservation.id})
            await self._apply(conn, {key: (-amt, Decimal(0)) for key, amt in held.items()})

        await self._transaction(attempt)
        return await self.usage(reservation.counters)

    async def usage(self, counters: Sequence[Counter]) -> tuple[CounterUsage, ...]:
        await self._prepare()
        async with self._engine.connect() as conn:
            return await self._usage_in(conn, counters)

    async def reclaim_expired(self) -> int:
        await self._prepare()
        from sqlalchemy import text

        now = self._clock()

        async def attempt(conn: AsyncConnection) -> int:
            await conn.execute(
                text(f"DELETE FROM {self._settled} WHERE until <= :now"), {"now": now}
            )
            held = await self._drop_leases(conn, "expires_at <= :now", {"now": now}, count=True)
            released = int(held.pop("", Decimal(0)))
            await self._apply(conn, {key: (-amt, Decimal(0)) for key, amt in held.items()})
            return released

        return await self._transaction(attempt)

    async def aclose(self) -> None:
        await self._engine.dispose()

    async def drop_tables(self) -> None:
        """Drop this store's tables (tests and tear-downs)."""
        from sqlalchemy import text

        async with self._engine.begin() as conn:
            await conn.execute(
                text(f"DROP TABLE IF EXISTS {self._settled}, {self._leases}, {self._counters}")
            )
        self._ready = False

    # -- internals --------------------------------------------------------------------------

    async def _usage_in(
        self, conn: AsyncConnection, counters: Sequence[Counter]
    ) -> tuple[CounterUsage, ...]:
        from sqlalchemy import bindparam, text

        sql = text(
            f"SELECT key, spent, reserved FROM {self._counters} WHERE key IN :keys"
        ).bindparams(bindparam("keys", expanding=True))
        rows = (await conn.execute(sql, {"keys": [c.key for c in counters]})).all()
        found = {row[0]: CounterUsage(row[1], row[2]) for row in rows}
        return tuple(found.get(c.key, CounterUsage()) for c in counters)

    async def _mark_settled(self, conn: AsyncConnection, reservation_id: str, until: float) -> bool:
        """Remember the reservation as settled; ``False`` if it already was."""
        from sqlalchemy import text

        sql = text(
            f"INSERT INTO {self._settled} (id, until) VALUES (:id, :until) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        return (await conn.execute(sql, {"id": reservation_id, "until": until})).first() is not None

    async def _reserve_in(
        self,
        conn: AsyncConnection,
        reservation_id: str,
        counters: Sequence[Counter],
        amount: Decimal,
        expires_at: float,
    ) -> tuple[CounterUsage, ...]:
        from sqlalchemy import text

        upsert = text(
            f"INSERT INTO {self._counters} AS c (key, spent, reserved) VALUES (:key, 0, :amount) "
            "ON CONFLICT (key) DO UPDATE SET reserved = c.reserved + excluded.reserved "
            "WHERE c.spent + c.reserved + excluded.reserved <= :limit "
            "RETURNING spent, reserved"
        )
        after: dict[str, CounterUsage] = {}
        for counter in sorted(counters, key=lambda c: c.key):
            params = {"key": counter.key, "amount": amount, "limit": counter.limit}
            row = (await conn.execute(upsert, params)).first()
            if row is None:
                state = text(f"SELECT spent, reserved FROM {self._counters} WHERE key = :key")
                spent, reserved = (await conn.execute(state, {"key": counter.key})).one()
                raise CounterFull(counter, CounterUsage(spent, reserved), amount)
            after[counter.key] = CounterUsage(row[0], row[1])
        lease = text(
            f"INSERT INTO {self._leases} (id, key, amount, expires_at) "
            "VALUES (:id, :key, :amount, :expires_at)"
        )
        rows = [
            {"id": reservation_id, "key": c.key, "amount": amount, "expires_at": expires_at}
            for c in counters
        ]
        await conn.execute(lease, rows)
        return tuple(after[c.key] for c in counters)

    async def _drop_leases(
        self, conn: AsyncConnection, where: str, params: dict[str, Any], *, count: bool = False
    ) -> dict[str, Decimal]:
        """Delete the matching leases; the amount they held per counter key (and under ``""``
        the number of reservations, when ``count``)."""
        from sqlalchemy import text

        sql = text(f"DELETE FROM {self._leases} WHERE {where} RETURNING id, key, amount")
        rows = (await conn.execute(sql, params)).all()
        held: dict[str, Decimal] = {}
        for _, key, amount in rows:
            held[key] = held.get(key, Decimal(0)) + amount
        if count:
            held[""] = Decimal(len({row[0] for row in rows}))
        return held

    async def _apply(
        self, conn: AsyncConnection, changes: dict[str, tuple[Decimal, Decimal]]
    ) -> dict[str, CounterUsage]:
        """Add ``(reserved delta, spent delta)`` to each counter, in key order."""
        from sqlalchemy import text

        sql = text(
            f"INSERT INTO {self._counters} AS c (key, spent, reserved) VALUES (:key, :spent, 0) "
            "ON CONFLICT (key) DO UPDATE SET reserved = c.reserved + :reserved, "
            "spent = c.spent + :spent RETURNING spent, reserved"
        )
        after: dict[str, CounterUsage] = {}
        for key in sorted(changes):
            reserved, spent = changes[key]
            row = (
                await conn.execute(sql, {"key": key, "reserved": reserved, "spent": spent})
            ).one()
            after[key] = CounterUsage(row[0], row[1])
        return after

    async def _transaction(self, body: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        from sqlalchemy.exc import DBAPIError

        for attempt in range(_ATTEMPTS):
            try:
                async with self._engine.begin() as conn:
                    return await body(conn)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                if code not in _RETRYABLE or attempt == _ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _prepare(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await self._create_tables()
                self._ready = True

    async def _create_tables(self) -> None:
        from sqlalchemy import text

        lock = text("SELECT pg_advisory_xact_lock(hashtext(:name))")  # creators queue here
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self._counters} (key text PRIMARY KEY, "
            "spent numeric(30, 9) NOT NULL DEFAULT 0, reserved numeric(30, 9) NOT NULL DEFAULT 0)",
            f"CREATE TABLE IF NOT EXISTS {self._leases} (id text NOT NULL, key text NOT NULL, "
            "amount numeric(30, 9) NOT NULL, expires_at double precision NOT NULL, "
            "PRIMARY KEY (id, key))",
            f"CREATE INDEX IF NOT EXISTS {self._leases}_expiry ON {self._leases} (expires_at)",
            f"CREATE TABLE IF NOT EXISTS {self._settled} (id text PRIMARY KEY, "
            "until double precision NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self._settled}_until ON {self._settled} (until)",
        ]
        async with self._engine.begin() as conn:
            await conn.execute(lock, {"name": self._counters})
            for statement in statements:
                await conn.execute(text(statement))


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable or failing PostgreSQL raises (the guard's breaker counts these):
    driver errors, a full pool, and sockets that fail before the driver wraps them."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return (DBAPIError, PoolTimeout, OSError)
