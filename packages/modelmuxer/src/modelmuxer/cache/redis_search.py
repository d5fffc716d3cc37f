"""Semantic vectors searched by the Redis server itself (the search module's vector KNN).

With RediSearch >= 2.4 (Redis Stack, or Redis 8 with its query engine) each vector is a HASH
``<namespace>:v:<dims>:<partition>:<answer key>`` (fields ``p`` partition tag, ``sig`` signature
tag, ``g`` signature, ``k`` answer key, ``t`` expiry, ``vec`` float32 bytes) with a TTL, indexed by
``<namespace>:vidx:<dims>`` (one index per embedder dimension). A lookup is one ``FT.SEARCH`` whose
query filters on the partition and the signature *inside* the KNN, so no other tenant's vector is
ever a candidate, and the threshold, signature, partition and expiry are checked again on what
comes back. A sorted set ``<namespace>:vz:<dims>:<partition>`` keeps each partition within
``capacity`` vectors.

:class:`RedisSemanticIndex` picks this index or the stream mirror
(:class:`~modelmuxer.cache.redis_vectors.RedisVectorIndex`) once per store, as
``cache.redis_vector_search`` says.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from redis.commands.search.field import Field, TagField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.commands.search.query import Query
from redis.commands.search.result import Result
from redis.exceptions import ResponseError

from modelmuxer.cache.redis import GuardedRedis
from modelmuxer.cache.redis_vectors import RedisVectorIndex
from modelmuxer.cache.semantic import VectorIndex
from modelmuxer.cache.settings import RedisVectorSearch
from modelmuxer.errors import ConfigError

__all__ = [
    "MIN_SEARCH_VERSION",
    "RedisSearchVectorIndex",
    "RedisSemanticIndex",
    "SearchSupport",
    "best_match",
    "escape_tag",
    "index_schema",
    "knn_query",
    "knn_search",
    "partition_tag",
    "search_hits",
    "search_module_version",
]

_log = logging.getLogger("modelmuxer.cache")

#: The first RediSearch with vector fields and query dialect 2 (module version 2.4.0).
MIN_SEARCH_VERSION = 20400
_SEARCH_MODULES = frozenset({"search", "ft"})
# TAG syntax: ASCII punctuation and any whitespace must be backslash-escaped inside {...}
_TAG_SPECIAL = re.compile(r"([^0-9A-Za-z_\x80-\U0010ffff]|\s)")
_RETURNED = ("p", "g", "k", "t", "dist")


def escape_tag(value: str) -> str:
    """``value`` escaped for a TAG query ``@field:{...}``: punctuation and spaces get a ``\\``."""
    return _TAG_SPECIAL.sub(r"\\\1", value)


def partition_tag(partition: str) -> str:
    """The TAG value stored for ``partition``: itself, or a digest when the TAG separator
    (``,``), surrounding whitespace or emptiness would change how the server indexes it."""
    if partition and partition == partition.strip() and "," not in partition:
        return partition
    return "#" + blake2b(partition.encode(), digest_size=16).hexdigest()


def _signature_tag(signature: str) -> str:
    return blake2b(signature.encode(), digest_size=12).hexdigest()


def knn_query(partition: str, signature: str, k: int) -> str:
    """The ``FT.SEARCH`` query (dialect 2): the ``k`` nearest vectors to ``$blob`` among those of
    ``partition`` with ``signature``, as ``dist``."""
    tags = f"@p:{{{escape_tag(partition_tag(partition))}}} @sig:{{{_signature_tag(signature)}}}"
    return f"({tags})=>[KNN {k} @vec $blob AS dist]"


def knn_search(partition: str, signature: str, k: int) -> Query:
    """The ``FT.SEARCH`` request but the vector: :func:`knn_query`, the fields returned,
    nearest first, ``k`` results, dialect 2 (the vector goes in ``PARAMS`` as ``blob``)."""
    return (
        Query(knn_query(partition, signature, k))
        .return_fields(*_RETURNED)
        .sort_by("dist")
        .paging(0, k)
        .dialect(2)
    )


def index_schema(
    prefix: str, dimensions: int, algorithm: Literal["HNSW", "FLAT"] = "HNSW"
) -> tuple[IndexDefinition, list[Field]]:
    """What ``FT.CREATE`` gets: HASHes under ``prefix``; case-sensitive TAGs ``p`` and ``sig``
    (lower-casing would merge partitions) and a float32 cosine ``vec`` of ``dimensions``."""
    # redis-py leaves IndexDefinition.__init__ unannotated
    definition = IndexDefinition(prefix=[prefix], index_type=IndexType.HASH)  # type: ignore[no-untyped-call]
    vector = VectorField(
        "vec",
        algorithm,
        {"TYPE": "FLOAT32", "DIM": dimensions, "DISTANCE_METRIC": "COSINE"},
    )
    return definition, [
        TagField("p", case_sensitive=True),
        TagField("sig", case_sensitive=True),
        vector,
    ]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def search_module_version(reply: object) -> int | None:
    """The version (e.g. ``20810`` for 2.8.10) of the search module in a ``MODULE LIST`` reply,
    or ``None`` when none is loaded. Accepts redis-py's list of dicts (bytes or str keys, RESP2
    or RESP3) and the raw flat ``[name, search, ver, 20810, ...]`` pairs."""
    if not isinstance(reply, list | tuple):
        return None
    for module in reply:
        if isinstance(module, list | tuple):
            module = dict(zip(module[::2], module[1::2], strict=False))
        if not isinstance(module, Mapping):
            continue
        fields = {_text(k).lower(): v for k, v in module.items()}
        if _text(fields.get("name", "")).lower() in _SEARCH_MODULES:
            try:
                return int(_text(fields.get("ver", 0)))
            except ValueError:
                return 0
    return None


@dataclass(frozen=True, slots=True)
class SearchSupport:
    """What a server offers: ``vectors`` when it can run vector KNN; ``detail`` says why."""

    vectors: bool
    detail: str


async def _detect(r: Any) -> SearchSupport:
    try:
        version = search_module_version(await r.module_list())
    except ResponseError:  # MODULE LIST refused (ACL, managed services): ask the module itself
        version = None
    if version is not None:
        dotted = f"{version // 10000}.{version // 100 % 100}.{version % 100}"
        return SearchSupport(version >= MIN_SEARCH_VERSION, f"search module {dotted}")
    try:
        await r.execute_command("FT._LIST")
    except ResponseError:
        return SearchSupport(False, "no search module")
    return SearchSupport(True, "FT._LIST answers (search module of unknown version)")


def search_hits(reply: object) -> list[dict[str, str]]:
    """The returned fields of each document of an ``FT.SEARCH`` reply (RESP2 or RESP3)."""
    if isinstance(reply, Result):
        return [{k: _text(v) for k, v in vars(doc).items() if k in _RETURNED} for doc in reply.docs]
    if isinstance(reply, Mapping):
        rows = reply.get("results", reply.get(b"results", []))
        out = []
        for row in rows:
            attrs = row.get("extra_attributes", row.get(b"extra_attributes", {}))
            fields = {_text(k): _text(v) for k, v in attrs.items()}
            out.append({k: v for k, v in fields.items() if k in _RETURNED})
        return out
    return []


def best_match(
    hits: list[dict[str, str]], partition: str, signature: str, threshold: float, now: float
) -> tuple[str, float] | None:
    """The answer key and similarity of the most similar hit of ``partition`` with exactly
    ``signature``, not expired at ``now`` and at least ``threshold`` similar (cosine distance
    ``dist`` = 1 - similarity); ``None`` when no hit qualifies.

    The query already filtered partition and signature; they are checked again here so that
    nothing the server returns (a tag digest collision, a filter bug) can serve another
    partition's answer or skip the guards."""
    tag, best = partition_tag(partition), None
    for hit in hits:
        try:
            similarity, expires = 1.0 - float(hit["dist"]), float(hit["t"])
        except (KeyError, ValueError):  # expired between match and load: its fields are gone
            continue
        if hit.get("p") != tag or hit.get("g") != signature or expires <= now or "k" not in hit:
            continue
        if similarity >= threshold and (best is None or similarity > best[1]):
            best = (hit["k"], similarity)
    return best


class RedisSearchVectorIndex:
    """A :class:`~modelmuxer.cache.semantic.VectorIndex` searched server-side by ``FT.SEARCH``."""

    def __init__(
        self,
        redis: GuardedRedis,
        namespace: str,
        *,
        capacity: int,
        algorithm: Literal["HNSW", "FLAT"] = "HNSW",
        candidates: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.capacity = capacity
        self.algorithm: Literal["HNSW", "FLAT"] = algorithm
        self.candidates = candidates
        self._clock = clock
        self._indexed: set[int] = set()  # dimensions whose index is known to exist
        self._create_failed: set[int] = set()

    def index_name(self, dimensions: int) -> str:
        """The search index of vectors of ``dimensions``."""
        return f"{self.namespace}:vidx:{dimensions}"

    def key_prefix(self, dimensions: int) -> str:
        """The prefix of the HASHes that index covers."""
        return f"{self.namespace}:v:{dimensions}:"

    async def _ensure_index(self, dimensions: int) -> bool:
        if dimensions in self._indexed:
            return True
        name = self.index_name(dimensions)
        definition, fields = index_schema(self.key_prefix(dimensions), dimensions, self.algorithm)

        async def create(r: Any) -> bool:
            try:
                await r.ft(name).create_index(fields, definition=definition)
            except ResponseError as exc:
                if "already exists" in str(exc).lower():
                    return True
                # not a Redis outage: keep the breaker closed (the exact cache still works);
                # retried at every call, logged loudly once
                level = logging.DEBUG if dimensions in self._create_failed else logging.ERROR
                self._create_failed.add(dimensions)
                _log.log(
                    level,
                    "FT.CREATE %s failed: %s; semantic lookups miss. Set "
                    'cache.redis_vector_search = "client" to use the stream mirror.',
                    name,
                    exc,
                )
                return False
            return True

        if await self.redis.run(create):
            self._indexed.add(dimensions)
            return True
        return False

    async def search(
        self, partition: str, vector: npt.NDArray[np.float32], signature: str, threshold: float
    ) -> tuple[str, float] | None:
        dimensions = int(vector.shape[0])
        if not await self._ensure_index(dimensions):
            return None
        name = self.index_name(dimensions)
        query = knn_search(partition, signature, self.candidates)
        blob = np.asarray(vector, dtype=np.float32).tobytes()

        async def knn(r: Any) -> Any:
            try:
                return await r.ft(name).search(query, query_params={"blob": blob})
            except ResponseError as exc:
                if (
                    "no such index" not in str(exc).lower()
                    and "unknown index" not in str(exc).lower()
                ):
                    raise
                self._indexed.discard(dimensions)  # dropped behind our back: create it again
                return None

        hits = search_hits(await self.redis.run(knn))
        return best_match(hits, partition, signature, threshold, self._clock())

    async def add(
        self,
        partition: str,
        key: str,
        signature: str,
        vector: npt.NDArray[np.float32],
        ttl_s: float,
    ) -> None:
        dimensions = int(vector.shape[0])
        if not await self._ensure_index(dimensions):
            return
        doc = f"{self.key_prefix(dimensions)}{partition}:{key}"
        members = f"{self.namespace}:vz:{dimensions}:{partition}"
        now, ttl_ms = self._clock(), int(ttl_s * 1000)
        fields: dict[str, str | bytes | float] = {
            "p": partition_tag(partition),
            "sig": _signature_tag(signature),
            "g": signature,
            "k": key,
            "t": now + ttl_s,
            "vec": np.asarray(vector, dtype=np.float32).tobytes(),
        }
        await self.redis.run(lambda r: self._write(r, doc, members, fields, now, ttl_ms))

    async def _write(
        self, r: Any, doc: str, members: str, fields: dict[str, Any], now: float, ttl_ms: int
    ) -> None:
        pipe = r.pipeline(transaction=False)
        pipe.hset(doc, mapping=fields)
        pipe.pexpire(doc, ttl_ms)
        pipe.zadd(members, {doc: fields["t"]})
        pipe.zremrangebyscore(members, "-inf", now)  # their HASHes have expired already
        pipe.pexpire(members, ttl_ms)
        pipe.zcard(members)
        count = (await pipe.execute())[-1]
        if count > self.capacity:  # the partition is full: drop the vectors expiring first
            evicted = await r.zpopmin(members, count - self.capacity)
            if evicted:
                await r.delete(*(member for member, _ in evicted))


class RedisSemanticIndex:
    """The semantic cache's :class:`~modelmuxer.cache.semantic.VectorIndex` on Redis: the
    server's vector search when it has one, else the stream mirror searched in process.

    ``mode`` is ``cache.redis_vector_search``. ``auto`` and ``server`` ask the server once, at
    the first lookup or store (``MODULE LIST``, then ``FT._LIST``); while Redis cannot be
    reached nothing is chosen and the semantic cache misses. ``server`` on a server without
    vector search raises :class:`~modelmuxer.errors.ConfigError`.
    """

    def __init__(
        self,
        redis: GuardedRedis,
        namespace: str,
        *,
        mode: RedisVectorSearch,
        capacity: int,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.mode = mode
        self._server = RedisSearchVectorIndex(redis, namespace, capacity=capacity, clock=clock)
        self._mirror = RedisVectorIndex(
            redis, namespace, capacity=capacity, max_bytes=max_bytes, clock=clock
        )
        self._chosen: VectorIndex | None = None
        #: why :attr:`backend` was chosen (e.g. ``search module 2.8.10``, ``no search module``)
        self.detail = "not detected yet"
        if mode == "client":
            self._choose(self._mirror, "set by cache.redis_vector_search")

    @property
    def backend(self) -> Literal["server", "client"] | None:
        """``server`` (``FT.SEARCH`` KNN), ``client`` (stream mirror), or ``None`` until known."""
        if self._chosen is None:
            return None
        return "server" if self._chosen is self._server else "client"

    def _choose(self, index: VectorIndex, why: str) -> VectorIndex:
        self._chosen, self.detail = index, why
        how = "Redis vector search (FT.SEARCH KNN)" if index is self._server else "stream mirror"
        _log.info("semantic cache %r: %s (%s)", self.namespace, how, why)
        return index

    async def _index(self) -> VectorIndex | None:
        if self._chosen is not None:
            return self._chosen
        support = await self.redis.run(_detect)
        if support is None:
            return None  # Redis unreachable: ask again at the next call
        if support.vectors:
            return self._choose(self._server, support.detail)
        if self.mode == "server":
            where = urlsplit(self.redis.url)
            raise ConfigError(
                f'cache.redis_vector_search is "server" but the Redis at {where.hostname}:'
                f"{where.port or 6379} has no vector search ({support.detail}). Load RediSearch "
                '>= 2.4 (Redis Stack, or Redis 8), or set cache.redis_vector_search to "auto" '
                'or "client" to search a local mirror of the vectors instead.'
            )
        return self._choose(self._mirror, support.detail)

    async def search(
        self, partition: str, vector: npt.NDArray[np.float32], signature: str, threshold: float
    ) -> tuple[str, float] | None:
        index = await self._index()
        return (
            None if index is None else await index.search(partition, vector, signature, threshold)
        )

    async def add(
        self,
        partition: str,
        key: str,
        signature: str,
        vector: npt.NDArray[np.float32],
        ttl_s: float,
    ) -> None:
        index = await self._index()
        if index is not None:
            await index.add(partition, key, signature, vector, ttl_s)
