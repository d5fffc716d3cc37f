"""Semantic vectors in Redis without a search module (Redis 7.0 as shipped), searched in process.

Used when the server has no vector search, or when ``cache.redis_vector_search = "client"``
(:class:`~modelmuxer.cache.redis_search.RedisSemanticIndex` chooses).

Each partition is a stream ``<namespace>:s:<partition>`` of entries (answer key, signature,
expiry, float32 vector), capped near ``capacity`` entries (``XADD MAXLEN ~``) and expiring
``ttl`` after its last write. Every process mirrors the partitions it reads into a local
:class:`~modelmuxer.cache.vectors.VectorTable` and catches up with one ``XRANGE`` from the last
entry it has seen (at most ``sync_batch`` entries per lookup), so a lookup costs one round trip
plus an O(n) matrix-vector product in process, and Redis never ships the whole partition twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelmuxer.cache.memory import LRUStore
from modelmuxer.cache.redis import GuardedRedis
from modelmuxer.cache.vectors import VectorTable

__all__ = ["RedisVectorIndex"]


_log = logging.getLogger("modelmuxer.cache")


def _mirror_entry(table: VectorTable, fields: dict[bytes, bytes]) -> bool:
    """Add one stream entry to ``table``; false (nothing added) when it is not one this index
    wrote with this embedder: missing fields, bytes that are not text, float32s or a time,
    or a vector of other dimensions."""
    try:
        vector = np.frombuffer(fields[b"v"], dtype=np.float32)
        key, signature = fields[b"k"].decode(), fields[b"g"].decode()
        table.add(key, signature, float(fields[b"t"]), vector)
    except (KeyError, ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        return False
    return True


@dataclass(slots=True)
class _Mirror:
    table: VectorTable
    last_id: bytes | None = None


class RedisVectorIndex:
    """A :class:`~modelmuxer.cache.semantic.VectorIndex` in Redis streams, mirrored locally."""

    def __init__(
        self,
        redis: GuardedRedis,
        namespace: str,
        *,
        capacity: int,
        max_bytes: int,
        sync_batch: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.capacity = capacity
        self.sync_batch = sync_batch
        self._clock = clock
        self._mirrors: LRUStore[_Mirror] = LRUStore(
            max_entries=1_000_000, max_bytes=max_bytes, ttl_s=float("inf")
        )

    def _name(self, partition: str) -> str:
        return f"{self.namespace}:s:{partition}"

    async def sync(self, partition: str) -> bool:
        """Pull new entries of ``partition`` into the mirror; true when it has caught up."""
        mirror = self._mirrors.get(partition)
        if mirror is None:
            mirror = _Mirror(VectorTable(self.capacity))
            self._mirrors.put(partition, mirror, 0)
        start = b"(" + mirror.last_id if mirror.last_id is not None else b"-"
        name, batch = self._name(partition), self.sync_batch
        entries: Any = await self.redis.run(lambda r: r.xrange(name, min=start, count=batch))
        if not entries:
            return entries is not None
        before, unreadable = mirror.table.nbytes, 0
        for entry_id, fields in entries:
            if not _mirror_entry(mirror.table, fields):
                unreadable += 1
            mirror.last_id = entry_id
        if unreadable:
            _log.warning(
                "semantic cache: skipped %d unreadable entr%s of %s (written by another "
                "embedder or another program under namespace %r?)",
                unreadable,
                "y" if unreadable == 1 else "ies",
                name,
                self.namespace,
            )
        if mirror.table.nbytes != before:
            self._mirrors.put(partition, mirror, mirror.table.nbytes)
        return len(entries) < batch

    async def search(
        self, partition: str, vector: npt.NDArray[np.float32], signature: str, threshold: float
    ) -> tuple[str, float] | None:
        await self.sync(partition)  # Redis down: search what the mirror already has
        mirror = self._mirrors.get(partition)
        if mirror is None:
            return None
        return mirror.table.search(vector, signature, threshold, self._clock())

    async def add(
        self,
        partition: str,
        key: str,
        signature: str,
        vector: npt.NDArray[np.float32],
        ttl_s: float,
    ) -> None:
        name, ttl_ms = self._name(partition), int(ttl_s * 1000)
        fields: dict[str | bytes, str | bytes | float] = {
            "k": key,
            "g": signature,
            "t": self._clock() + ttl_s,
            "v": np.asarray(vector, dtype=np.float32).tobytes(),
        }

        async def write(r: Any) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.xadd(name, fields, maxlen=self.capacity, approximate=True)
            pipe.pexpire(name, ttl_ms)
            return await pipe.execute()

        await self.redis.run(write)
