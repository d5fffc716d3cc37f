"""Redis access for the caches: one client per event loop, a short timeout on every call, and a
circuit breaker so a slow or absent Redis is bypassed instead of slowing every request.

redis-py is imported here, so this module loads only when a cache uses the Redis backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from modelmuxer._breaker import CircuitBreaker
from modelmuxer._secrets import redact_url
from modelmuxer.crypto import Encryptor
from modelmuxer.errors import ConfigError, DecryptionError
from modelmuxer.transport import RedisTLS, redis_connection_kwargs
from modelmuxer.types import Completion

__all__ = ["GuardedRedis", "RedisAnswers", "check_url"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.cache")


def check_url(url: str) -> None:
    """Raise :class:`~modelmuxer.errors.ConfigError` when ``url`` is not a Redis URL."""
    try:
        aredis.connection.parse_url(url)
    except ValueError as exc:
        shown = redact_url(url)
        raise ConfigError(f"cache.redis_url {shown!r} is not a Redis URL: {exc}") from None


class GuardedRedis:
    """Runs Redis calls under a timeout and a circuit breaker; a failed or skipped call returns
    ``None`` (and is logged), it never raises.

    A client is bound to the event loop it first connected on, so one is kept per loop: the
    sync API (its own loop) and async callers can share a muxer. ``tls``: the options of a
    ``rediss://`` URL (:class:`~modelmuxer.transport.RedisTLS`).

    :raises ConfigError: TLS is required and ``url`` is plain ``redis://``, or a certificate
        file cannot be loaded.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        breaker: CircuitBreaker,
        tls: RedisTLS | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.breaker = breaker
        self._tls = redis_connection_kwargs(url, tls, setting="cache.redis_url")
        self._clients: dict[asyncio.AbstractEventLoop, aredis.Redis] = {}

    def client(self) -> aredis.Redis:
        """The client for the running event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for stale in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[stale]
            client = aredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 0),  # a retry would double the time a dead Redis costs
                **self._tls,
            )
            self._clients[loop] = client
        return client

    async def run(self, call: Callable[[aredis.Redis], Awaitable[T]]) -> T | None:
        """``await call(client)`` within the timeout; ``None`` when skipped or failed."""
        if not self.breaker.allow():
            return None
        ok = False
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await call(self.client())
            ok = True
            return result
        except (RedisError, OSError, TimeoutError) as exc:
            _log.warning("Redis cache bypassed: %s: %s", type(exc).__name__, exc)
            return None
        finally:
            # also on cancellation: a probe that never reports would keep the breaker open
            if ok:
                self.breaker.succeeded()
            else:
                self.breaker.failed()

    async def aclose(self) -> None:
        """Close the client of the running loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def _first_line(exc: Exception) -> str:
    """The first line of ``exc`` (a validation error lists every field, and may quote data)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class RedisAnswers:
    """Answers in Redis: ``<namespace>:x:<key>`` holds the completion's JSON, with a TTL.

    With an ``encryptor`` the JSON is stored encrypted, and an entry that does not decrypt
    (written under a key no longer configured, altered, or in clear before encryption was
    turned on) is a miss, logged and passed to ``on_unreadable`` (the reason), never served.
    An entry that is not a completion's JSON (written by an incompatible version, or by another
    program under the namespace) is a miss too, logged; the fresh answer replaces it.
    """

    def __init__(
        self,
        redis: GuardedRedis,
        namespace: str,
        *,
        encryptor: Encryptor | None = None,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.encryptor = encryptor
        self._on_unreadable = on_unreadable

    def _key(self, key: str) -> str:
        return f"{self.namespace}:x:{key}"

    async def get(self, key: str) -> Completion | None:
        """The stored answer, or ``None`` (absent, expired, or Redis unavailable)."""
        name = self._key(key)
        raw: Any = await self.redis.run(lambda r: r.get(name))
        if raw is None:
            return None
        if self.encryptor is not None:
            try:
                raw = self.encryptor.decrypt(raw, what="cache entry")
            except DecryptionError as exc:
                self._unreadable(exc.reason, str(exc))
                return None
        try:
            return Completion.model_validate_json(raw)
        except ValueError as exc:  # an incompatible version or another program: a miss
            _log.warning(
                "Redis cache entry skipped (a miss): %s is not a stored answer (%s)",
                name,
                _first_line(exc),
            )
            return None

    async def put(self, key: str, completion: Completion, ttl_s: float) -> None:
        """Store ``completion`` for ``ttl_s`` seconds (silently skipped when Redis is down)."""
        name, ttl_ms = self._key(key), int(ttl_s * 1000)
        data = completion.model_dump_json().encode("utf-8")
        if self.encryptor is not None:
            data = self.encryptor.encrypt(data)
        await self.redis.run(lambda r: r.set(name, data, px=ttl_ms))

    def _unreadable(self, reason: str, message: str) -> None:
        _log.warning("Redis cache entry skipped (a miss): %s", message)
        if self._on_unreadable is not None:
            self._on_unreadable(reason)

    async def aclose(self) -> None:
        """Close the connections of the running event loop."""
        await self.redis.aclose()
