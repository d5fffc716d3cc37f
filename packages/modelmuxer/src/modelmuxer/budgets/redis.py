"""Budget counters in Redis, shared by every process: one Lua script per operation (EVALSHA).

Amounts are integer nano-dollars in Redis (exact with ``HINCRBY``; Lua's doubles hold integers
exactly up to 2**53 nano-dollars, about $9 million per counter). The scripts are in
:mod:`modelmuxer.budgets._lua`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from modelmuxer.budgets import _lua
from modelmuxer.budgets.base import Clock, CounterFull, Reservation, system_clock
from modelmuxer.budgets.model import QUANTUM, Counter, CounterUsage

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from modelmuxer.transport import RedisTLS

__all__ = ["RedisBudgetStore", "unavailable_errors"]

_NANO = Decimal(1) / QUANTUM
#: how long after its lease a settled reservation is remembered (settling it again is a no-op)
_SETTLED_KEPT_S = 600.0


def _nano(amount: Decimal) -> str:
    return str(int(amount * _NANO))


def _usd(nano: int | bytes | str) -> Decimal:
    return Decimal(int(nano)) * QUANTUM


class RedisBudgetStore:
    """A :class:`~modelmuxer.budgets.BudgetStore` in Redis.

    :param url: ``redis://host:port/db`` (or pass ``client``).
    :param namespace: prefix of every key (``{namespace}`` is a cluster hash tag); use one per
        deployment or test.
    :param retention_s: how long a counter is kept after its window ends (for reports).
    :param clock: seconds since the epoch; the leases and windows follow it.
    :param timeout_s: socket connect and read timeout of the client built from ``url``
        (``None``: redis-py's defaults); the guard also bounds each operation.
    :param tls: the options of a ``rediss://`` URL
        (:func:`~modelmuxer.transport.redis_connection_kwargs`).
    :raises ConfigError: TLS is required and ``url`` is plain ``redis://``, or a certificate
        file cannot be loaded.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        namespace: str = "modelmuxer:budgets",
        retention_s: float = 35 * 86_400.0,
        clock: Clock = system_clock,
        timeout_s: float | None = None,
        tls: RedisTLS | None = None,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisBudgetStore needs a url or a client")
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            from modelmuxer.transport import redis_connection_kwargs

            client = Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),  # a retry would double what a dead Redis costs
                **redis_connection_kwargs(url, tls, setting="budgets.backend"),
            )
        self._redis = client
        self._prefix = f"{{{namespace}}}"
        self._leases = f"{self._prefix}:leases"
        self._record_prefix = f"{self._prefix}:r:"
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        self._reserve = client.register_script(_lua.RESERVE)
        self._settle = client.register_script(_lua.SETTLE)
        self._release = client.register_script(_lua.RELEASE)
        self._reclaim = client.register_script(_lua.RECLAIM)

    def _key(self, counter: Counter) -> str:
        return f"{self._prefix}:c:{counter.key}"

    def _expiry_ms(self, expires_at: datetime | None) -> str:
        return (
            ""
            if expires_at is None
            else str(int(expires_at.timestamp() * 1000) + self._retention_ms)
        )

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], amount: Decimal, lease_s: float
    ) -> Reservation:
        now = self._clock()
        expires_at = now + lease_s
        lease_end_ms = int(expires_at * 1000)
        args: list[Any] = [
            int(now * 1000),
            lease_end_ms,
            _nano(amount),
            self._record_prefix,
            reservation_id,
        ]
        for counter in counters:
            args += [_nano(counter.limit), self._expiry_ms(counter.expires_at)]
        keys = [self._leases, self._record_prefix + reservation_id]
        keys += [self._key(c) for c in counters]
        out = await self._reserve(keys=keys, args=args)
        if int(out[0]) == 0:
            index = int(out[1]) - 1
            usage = CounterUsage(_usd(out[2]), _usd(out[3]))
            raise CounterFull(counters[index], usage, amount)
        return Reservation(reservation_id, tuple(counters), amount, expires_at, _pairs(out[1:]))

    async def settle(self, reservation: Reservation, actual: Decimal) -> tuple[CounterUsage, ...]:
        marker = f"{self._prefix}:d:{reservation.id}"
        keys = [self._leases, self._record_prefix + reservation.id, marker]
        keys += [self._key(c) for c in reservation.counters]
        # remembered a while after the lease: a retried settlement is not charged twice
        now = self._clock()
        lease_end = reservation.expires_at if math.isfinite(reservation.expires_at) else now
        done_until = max(lease_end, now) + _SETTLED_KEPT_S
        args: list[Any] = [reservation.id, _nano(actual), int(done_until * 1000)]
        args += [self._expiry_ms(c.expires_at) for c in reservation.counters]
        return _pairs(await self._settle(keys=keys, args=args))

    async def release(self, reservation: Reservation) -> tuple[CounterUsage, ...]:
        keys = [self._leases, self._record_prefix + reservation.id]
        keys += [self._key(c) for c in reservation.counters]
        return _pairs(await self._release(keys=keys, args=[reservation.id]))

    async def usage(self, counters: Sequence[Counter]) -> tuple[CounterUsage, ...]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for counter in counters:
                pipe.hmget(self._key(counter), ["spent", "reserved"])
            rows = await pipe.execute()
        return tuple(CounterUsage(_usd(s or 0), _usd(r or 0)) for s, r in rows)

    async def reclaim_expired(self) -> int:
        now_ms = int(self._clock() * 1000)
        return int(await self._reclaim(keys=[self._leases], args=[self._record_prefix, now_ms]))

    async def aclose(self) -> None:
        await self._redis.aclose()


def _pairs(flat: Sequence[Any]) -> tuple[CounterUsage, ...]:
    return tuple(CounterUsage(_usd(flat[i]), _usd(flat[i + 1])) for i in range(0, len(flat), 2))


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """What an unreachable or failing Redis raises (the guard's breaker counts these)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)
