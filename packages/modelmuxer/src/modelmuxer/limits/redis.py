"""Rate-limit counters in Redis, shared by every process: one Lua script per operation.

The client is redis-py's blocking one (the hooks that check limits are synchronous), with socket
timeouts of ``timeout_s`` and no retries, so a call costs one round trip and an unreachable Redis
at most ``timeout_s``. redis-py is imported here, only when this store is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from modelmuxer.limits import _lua
from modelmuxer.limits.base import Ask, Meter, Refusal, WindowUsage
from modelmuxer.transport import RedisTLS, redis_connection_kwargs

__all__ = ["RedisLimitStore"]

#: what an unreachable or failing Redis raises (the limiter's breaker counts these)
UNAVAILABLE: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class RedisLimitStore:
    """A :class:`~modelmuxer.limits.LimitStore` in Redis.

    :param url: ``redis://host:port/db`` (or pass ``client``).
    :param key_prefix: prefix of every key (``{key_prefix}`` is a cluster hash tag); use one
        per deployment or test.
    :param timeout_s: socket connect and read timeout of the client built from ``url``.
    :param tls: the options of a ``rediss://`` URL
        (:func:`~modelmuxer.transport.redis_connection_kwargs`).
    :raises ConfigError: TLS is required and ``url`` is plain ``redis://``, or a certificate
        file cannot be loaded.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        key_prefix: str = "modelmuxer:limits",
        timeout_s: float = 0.2,
        tls: RedisTLS | None = None,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisLimitStore needs a url or a client")
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),  # a retry would double what a dead Redis costs
                **redis_connection_kwargs(url, tls, setting="limits.redis_url"),
            )
        self.client = client
        self._prefix = f"{{{key_prefix}}}:"
        self._acquire = client.register_script(_lua.ACQUIRE)
        self._usage = client.register_script(_lua.USAGE)
        self._add = client.register_script(_lua.ADD)

    def _key(self, meter: Meter) -> str:
        return self._prefix + meter.key

    def acquire(self, asks: Sequence[Ask], now_ms: int) -> Refusal | None:
        args: list[Any] = [now_ms]
        for ask in asks:
            meter = ask.meter
            args += [meter.width_ms, meter.buckets, meter.amount, ask.cost, int(ask.take)]
        out = self._acquire(keys=[self._key(a.meter) for a in asks], args=args)
        if int(out[0]) == 1:
            return None
        return Refusal(int(out[1]) - 1, _usage(out[2], out[3]))

    def usage(self, asks: Sequence[Ask], now_ms: int) -> list[WindowUsage]:
        if not asks:
            return []
        args: list[Any] = [now_ms]
        for ask in asks:
            args += [ask.meter.width_ms, ask.meter.buckets, ask.meter.amount, ask.cost]
        out = self._usage(keys=[self._key(a.meter) for a in asks], args=args)
        return [_usage(out[i], out[i + 1]) for i in range(0, len(out), 2)]

    def add(self, counts: Sequence[tuple[Meter, int]], now_ms: int) -> None:
        if not counts:
            return
        args: list[Any] = [now_ms]
        for meter, amount in counts:
            args += [meter.width_ms, meter.buckets, amount]
        self._add(keys=[self._key(m) for m, _ in counts], args=args)

    def close(self) -> None:
        self.client.close()


def _usage(used: Any, wait: Any) -> WindowUsage:
    wait_ms = int(wait)
    return WindowUsage(int(used), None if wait_ms < 0 else wait_ms)
