"""The semantic cache on Redis's own vector search (``FT.SEARCH`` KNN), and the choice between it
and the stream mirror.

Three parts: the pure pieces (tag escaping, the index schema, the query, ``MODULE LIST``
parsing, the checks on what the server returns) need no server; the choice is tested on the
real Redis of this machine (7.0, no search module: ``auto`` must pick the mirror, ``server`` must
be a ConfigError); the server-side index itself needs a Redis with the search module
(RediSearch >= 2.4), given by ``REDIS_SEARCH_URL`` or found at the default Redis, and is
skipped with that reason otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from collections.abc import Iterator
from itertools import chain
from typing import Any

import numpy as np
import pytest
import redis
from _support import OFFLINE_MODELS, MakeMuxer
from hypothesis import given
from hypothesis import strategies as st
from redis.commands.search.result import Result

from modelmuxer import ConfigError, Muxer
from modelmuxer.cache.breaker import CircuitBreaker
from modelmuxer.cache.guards import prompt_signature
from modelmuxer.cache.redis import GuardedRedis
from modelmuxer.cache.redis_search import (
    MIN_SEARCH_VERSION,
    RedisSearchVectorIndex,
    RedisSemanticIndex,
    best_match,
    escape_tag,
    index_schema,
    knn_query,
    knn_search,
    partition_tag,
    search_hits,
    search_module_version,
)
from modelmuxer.cache.vectors import normalize_rows
from modelmuxer.config import load_settings
from modelmuxer.testing import NEAR_MISS_PAIRS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI = OFFLINE_MODELS[0]
PARTITION = "3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6"  # what context_key returns: a hex digest
SIGNATURE = prompt_signature("What is the capital of France?")
ASCII_SPECIAL = ",.<>{}[]\"':;!@#$%^&*()-+=~|/\\ ?`"

# -- the pure pieces ------------------------------------------------------------------------------


def test_tag_escaping_covers_punctuation_and_spaces() -> None:
    assert escape_tag(PARTITION) == PARTITION
    assert escape_tag("org a,b") == r"org\ a\,b"
    assert escape_tag("a-b:c{d}|e") == r"a\-b\:c\{d\}\|e"
    assert escape_tag("tab\there") == "tab\\\there"
    assert escape_tag("Zürich_2") == "Zürich_2"  # letters, digits, underscore stay
    assert escape_tag(ASCII_SPECIAL) == "".join("\\" + c for c in ASCII_SPECIAL)


@given(st.text())
def test_tag_escaping_is_reversible_and_leaves_nothing_special(value: str) -> None:
    escaped = escape_tag(value)
    assert re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL) == value
    unescaped = re.sub(r"\\.", "", escaped, flags=re.DOTALL)
    assert not any(c in ASCII_SPECIAL or c.isspace() for c in unescaped)


def test_partition_tags_never_split_or_merge() -> None:
    assert partition_tag(PARTITION) == PARTITION
    odd = ["a,b", " a", "a ", ""]
    tags = [partition_tag(p) for p in odd]
    # the separator, surrounding spaces (trimmed by the server) and emptiness become digests
    assert all(t.startswith("#") and "," not in t and t == t.strip() for t in tags)
    assert len(set(tags)) == len(odd)
    assert partition_tag("a,b") == partition_tag("a,b")


def test_the_query_filters_partition_and_signature_inside_the_knn() -> None:
    query = knn_query(PARTITION, SIGNATURE, 3)
    match = re.fullmatch(
        r"\(@p:\{(.+)\} @sig:\{([0-9a-f]{24})\}\)=>\[KNN 3 @vec \$blob AS dist\]", query
    )
    assert match is not None, query
    assert match.group(1) == PARTITION
    assert knn_query(PARTITION, prompt_signature("What is the capital of Spain?"), 3) != query
    assert knn_query("org a,b", SIGNATURE, 3).startswith(r"(@p:{\#")
    assert knn_query("org a", SIGNATURE, 3).startswith(r"(@p:{org\ a}")


def test_the_search_request() -> None:
    args = knn_search(PARTITION, SIGNATURE, 5).get_args()
    assert args == [
        knn_query(PARTITION, SIGNATURE, 5),
        *("RETURN", 5, "p", "g", "k", "t", "dist"),
        *("SORTBY", "dist", "ASC"),
        *("DIALECT", 2),
        *("LIMIT", 0, 5),
    ]


@pytest.mark.parametrize("algorithm", ["HNSW", "FLAT"])
def test_the_index_schema(algorithm: Any) -> None:
    definition, fields = index_schema("ns:v:384:", 384, algorithm)
    assert definition.args[:5] == ["ON", "HASH", "PREFIX", 1, "ns:v:384:"]
    schema = list(chain.from_iterable(f.redis_args() for f in fields))
    tag = ["TAG", "SEPARATOR", ",", "CASESENSITIVE"]
    vector = ["VECTOR", algorithm, 6, "TYPE", "FLOAT32", "DIM", 384, "DISTANCE_METRIC", "COSINE"]
    assert schema == ["p", *tag, "sig", *tag, "vec", *vector]


#: MODULE LIST replies as redis-py returns them (its RESP2 callback makes dicts of the pairs).
MODULE_LISTS: list[tuple[str, object, int | None]] = [
    ("Redis 7.0, no modules", [], None),
    (
        "Redis Stack 7.2 (RESP2, bytes)",
        [
            {b"name": b"ReJSON", b"ver": 20607, b"path": b"/opt/redis-stack/lib/rejson.so"},
            {b"name": b"search", b"ver": 20811, b"path": b"/opt/redis-stack/lib/redisearch.so"},
            {b"name": b"bf", b"ver": 20608, b"args": []},
        ],
        20811,
    ),
    (
        "Redis 8 (RESP3, decoded)",
        [
            {"name": "vectorset", "ver": 1, "path": "", "args": []},
            {"name": "search", "ver": 80002, "path": "", "args": []},
        ],
        80002,
    ),
    ("RediSearch 2.2 (no vectors)", [{b"name": b"search", b"ver": 20215}], 20215),
    ("RediSearch 1.2 named ft, raw pairs", [[b"name", b"ft", b"ver", 10205]], 10205),
    ("version as a string", [{"name": "SEARCH", "ver": "20400"}], 20400),
    ("only other modules", [{b"name": b"timeseries", b"ver": 11011}], None),
    ("not a list", b"ERR", None),
]


@pytest.mark.parametrize(("shape", "reply", "version"), MODULE_LISTS)
def test_module_list_replies(shape: str, reply: object, version: int | None) -> None:
    assert search_module_version(reply) == version, shape


def _hit(**fields: str) -> dict[str, str]:
    base = {"p": PARTITION, "g": SIGNATURE, "k": "answer", "t": "2000", "dist": "0.05"}
    return {**base, **fields}


def test_what_comes_back_is_checked_again() -> None:
    def best(*hits: dict[str, str], threshold: float = 0.9) -> Any:
        return best_match(list(hits), PARTITION, SIGNATURE, threshold, now=1000.0)

    assert best(_hit()) == ("answer", pytest.approx(0.95))
    assert best(_hit(p="another-partition")) is None
    assert best(_hit(g=prompt_signature("What is the capital of Spain?"))) is None
    assert best(_hit(t="999")) is None  # expired, not yet evicted
    assert best(_hit(dist="0.2")) is None  # similarity 0.8 < 0.9
    assert best(_hit(dist="0.2"), threshold=0.8) == ("answer", pytest.approx(0.8))
    assert best({"dist": "0.01"}) is None  # the HASH expired between match and load
    two = best(_hit(k="far", dist="0.08"), _hit(k="near", dist="0.02"))
    assert two[0] == "near"


def test_search_replies_in_both_protocols() -> None:
    fields = [b"p", PARTITION.encode(), b"g", SIGNATURE.encode(), b"k", b"ans", b"t", b"9"]
    fields += [b"dist", b"0.125"]
    resp2 = Result([1, b"ns:v:256:x", fields], True)  # what redis-py builds from RESP2
    pairs = dict(zip(fields[::2], fields[1::2], strict=True))
    resp3 = {"total_results": 1, "results": [{"id": b"ns:v:256:x", "extra_attributes": pairs}]}
    expected = {"p": PARTITION, "g": SIGNATURE, "k": "ans", "t": "9", "dist": "0.125"}
    assert search_hits(resp2) == [expected]
    assert search_hits(resp3) == [expected]
    assert search_hits(None) == []


# -- the choice, on this machine's Redis ----------------------------------------------------------


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own on the shared Redis, deleted afterwards."""
    name = f"mmtest-vsearch-{uuid.uuid4().hex[:12]}"
    yield name
    _cleanup(redis_url, name)


def _cleanup(url: str, namespace: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        names = client.execute_command("FT._LIST")
    except redis.ResponseError:  # no search module
        names = []
    for index in names:
        if index.decode().startswith(f"{namespace}:"):
            client.ft(index.decode()).dropindex(delete_documents=False)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _has_vector_search(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2.0)
    try:
        version = search_module_version(client.module_list())
    except redis.RedisError:
        return False
    finally:
        client.close()
    return version is not None and version >= MIN_SEARCH_VERSION


def _guarded(url: str, timeout_s: float = 1.0) -> GuardedRedis:
    return GuardedRedis(url, timeout_s=timeout_s, breaker=CircuitBreaker(failures=3, cooldown_s=5))


def _redis_muxer(make_muxer: MakeMuxer, url: str, namespace: str, **cache: Any) -> Muxer:
    values = {"enabled": True, "backend": "redis", "redis_url": url, "namespace": namespace}
    settings = load_settings(cache={**values, "semantic": True, "redis_timeout_s": 1.0, **cache})
    return make_muxer(OFFLINE_MODELS, settings=settings)


def _index_of(muxer: Muxer) -> RedisSemanticIndex:
    assert muxer.cache.semantic is not None
    index = muxer.cache.semantic.index
    assert isinstance(index, RedisSemanticIndex)
    return index


async def test_auto_picks_the_stream_mirror_on_a_redis_without_search(
    make_muxer: MakeMuxer, redis_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    if _has_vector_search(redis_url):
        pytest.skip("the default Redis has vector search: the server-side tests cover auto")
    muxer = _redis_muxer(make_muxer, redis_url, namespace)
    index = _index_of(muxer)
    assert (index.mode, index.backend) == ("auto", None)  # nothing asked before the first call
    with caplog.at_level(logging.INFO, logger="modelmuxer.cache"):
        await muxer.acomplete("What is the capital of France?", model=MINI, temperature=0)
        hit = await muxer.acomplete("what is the capital of France", model=MINI, temperature=0)
    assert hit.cache == "semantic"
    assert index.backend == "client"
    assert index.detail == "no search module"
    assert any("stream mirror" in r.getMessage() for r in caplog.records)
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"{namespace}:*")
    client.close()
    assert any(k.startswith(f"{namespace}:s:".encode()) for k in keys)
    assert not any(k.startswith(f"{namespace}:v".encode()) for k in keys)


async def test_server_without_the_module_is_a_config_error(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    if _has_vector_search(redis_url):
        pytest.skip("the default Redis has vector search")
    muxer = _redis_muxer(make_muxer, redis_url, namespace, redis_vector_search="server")
    with pytest.raises(ConfigError, match='"client"') as raised:
        await muxer.acomplete("What is the capital of France?", model=MINI, temperature=0)
    assert "no vector search (no search module)" in str(raised.value)
    assert "RediSearch >= 2.4" in str(raised.value)
    assert _index_of(muxer).backend is None


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


async def test_client_is_chosen_without_asking_the_server() -> None:
    index = RedisSemanticIndex(
        _guarded(_closed_port_url()), "ns", mode="client", capacity=10, max_bytes=1 << 20
    )
    assert (index.backend, index.detail) == ("client", "set by cache.redis_vector_search")


async def test_nothing_is_chosen_while_redis_is_unreachable() -> None:
    index = RedisSemanticIndex(
        _guarded(_closed_port_url(), 0.2), "ns", mode="server", capacity=10, max_bytes=1 << 20
    )
    vector = normalize_rows(np.ones(16))[0]
    assert await index.search(PARTITION, vector, SIGNATURE, 0.9) is None
    await index.add(PARTITION, "key", SIGNATURE, vector, 60.0)  # skipped, no error
    assert index.backend is None  # asked again at the next call, not settled on the mirror


async def test_vectors_are_written_as_hashes_with_ttl_within_capacity(
    redis_url: str, namespace: str
) -> None:
    # writing needs no module: HSET, PEXPIRE and a sorted set per partition
    index = RedisSearchVectorIndex(_guarded(redis_url), namespace, capacity=3)
    index._indexed.add(16)  # the index itself needs the module: taken as existing here
    for i in range(5):
        await index.add(PARTITION, f"k{i}", SIGNATURE, _vec(1.0, float(i)), 30.0)
    client = redis.Redis.from_url(redis_url)
    docs = sorted(client.keys(f"{index.key_prefix(16)}*"))
    assert docs == [f"{index.key_prefix(16)}{PARTITION}:k{i}".encode() for i in (2, 3, 4)]
    assert all(0 < client.pttl(d) <= 30_000 for d in docs)
    stored = client.hgetall(docs[-1])
    assert stored[b"p"] == PARTITION.encode()
    assert stored[b"g"] == SIGNATURE.encode()
    assert stored[b"k"] == b"k4"
    assert np.frombuffer(stored[b"vec"], np.float32) == pytest.approx(_vec(1.0, 4.0))
    members = f"{namespace}:vz:16:{PARTITION}"
    assert client.zcard(members) == 3
    assert 0 < client.pttl(members) <= 30_000
    client.close()


async def test_a_failed_ft_create_misses_without_opening_the_breaker(
    redis_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    if _has_vector_search(redis_url):
        pytest.skip("the default Redis has vector search")
    guarded = _guarded(redis_url)
    index = RedisSearchVectorIndex(guarded, namespace, capacity=3)
    with caplog.at_level(logging.DEBUG, logger="modelmuxer.cache"):
        for _ in range(5):
            assert await index.search(PARTITION, _vec(1.0), SIGNATURE, 0.5) is None
            await index.add(PARTITION, "k", SIGNATURE, _vec(1.0), 30.0)
    assert guarded.breaker.state == "closed"  # the exact cache keeps working
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "FT.CREATE" in errors[0].getMessage()
    client = redis.Redis.from_url(redis_url)
    assert client.keys(f"{namespace}:*") == []
    client.close()


def test_an_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="redis_vector_search"):
        load_settings(cache={"redis_vector_search": "sometimes"})


# -- the server-side index, on a Redis with the search module ------------------------------------

NO_SEARCH_SERVER = (
    "needs a Redis with the search module and vector support (RediSearch >= 2.4: Redis Stack or "
    "Redis 8); set REDIS_SEARCH_URL to one. The default Redis has no search module (this "
    "machine runs Redis 7.0 and none can be installed here), so the server-side vector index "
    "is NOT tested by this run"
)


@pytest.fixture
def search_url() -> str:
    """A Redis with vector search: ``REDIS_SEARCH_URL``, else the default Redis if it has it."""
    from _services import DEFAULT_REDIS_URL, require_server

    url = os.environ.get("REDIS_SEARCH_URL")
    if url:
        require_server("Redis (REDIS_SEARCH_URL)", url, 6379)
        assert _has_vector_search(url), f"REDIS_SEARCH_URL={url} has no search module >= 2.4"
        return url
    default = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    try:
        found = _has_vector_search(default)
    except redis.RedisError:
        found = False
    if not found:
        pytest.skip(NO_SEARCH_SERVER)
    return default


@pytest.fixture
def search_namespace(search_url: str) -> Iterator[str]:
    name = f"mmtest-vsearch-{uuid.uuid4().hex[:12]}"
    yield name
    _cleanup(search_url, name)


def _vec(*values: float) -> Any:
    return normalize_rows(np.array(values + (0.0,) * (16 - len(values))))[0]


async def test_auto_picks_the_server_and_it_serves_variants(
    make_muxer: MakeMuxer, search_url: str, search_namespace: str
) -> None:
    muxer = _redis_muxer(make_muxer, search_url, search_namespace, semantic_threshold=0.3)
    original = await muxer.acomplete("What is the capital of France?", model=MINI, temperature=0)
    hit = await muxer.acomplete("what is the capital of France", model=MINI, temperature=0)
    assert (hit.cache, hit.text) == ("semantic", original.text)
    assert _index_of(muxer).backend == "server"
    for first, _ in NEAR_MISS_PAIRS:
        await muxer.acomplete(first, model=MINI, temperature=0)
    misses = [
        (await muxer.acomplete(s, model=MINI, temperature=0)).cache for _, s in NEAR_MISS_PAIRS
    ]
    assert misses == ["miss"] * len(NEAR_MISS_PAIRS)  # the guards hold on server-side hits
    client = redis.Redis.from_url(search_url)
    assert not client.keys(f"{search_namespace}:s:*")  # no stream mirror written
    assert client.keys(f"{search_namespace}:v:256:*")
    client.close()


async def test_partitions_never_see_each_other(search_url: str, search_namespace: str) -> None:
    index = RedisSearchVectorIndex(_guarded(search_url), search_namespace, capacity=100)
    tenants = ["acme", "org a,b", "org a", "a", "b", "ACME", "x{y}|z", " acme"]
    vector = _vec(1.0, 2.0, 3.0)
    for tenant in tenants:
        await index.add(tenant, f"answer-of-{tenant}", SIGNATURE, vector, 60.0)
    for tenant in tenants:
        found = await index.search(tenant, vector, SIGNATURE, 0.99)
        assert found is not None, tenant
        assert found[0] == f"answer-of-{tenant}"
    assert await index.search("globex", vector, SIGNATURE, 0.0) is None


async def test_similarity_threshold_and_signature_apply(
    search_url: str, search_namespace: str
) -> None:
    index = RedisSearchVectorIndex(_guarded(search_url), search_namespace, capacity=100)
    stored, probe = _vec(1.0, 0.0), _vec(1.0, 1.0)  # cosine 0.7071
    await index.add(PARTITION, "k1", SIGNATURE, stored, 60.0)
    found = await index.search(PARTITION, probe, SIGNATURE, 0.7)
    assert found is not None
    assert found[1] == pytest.approx(float(stored @ probe), abs=1e-5)
    assert await index.search(PARTITION, probe, SIGNATURE, 0.71) is None
    other = prompt_signature("What is the capital of Spain?")
    assert await index.search(PARTITION, stored, other, 0.0) is None


async def test_ttl_and_capacity_per_partition(search_url: str, search_namespace: str) -> None:
    index = RedisSearchVectorIndex(_guarded(search_url), search_namespace, capacity=3)
    for i in range(5):
        await index.add(PARTITION, f"k{i}", SIGNATURE, _vec(1.0, float(i)), 0.6)
    client = redis.Redis.from_url(search_url)
    docs = client.keys(f"{index.key_prefix(16)}*")
    assert len(docs) == 3
    assert all(0 < client.pttl(d) <= 600 for d in docs)
    assert client.zcard(f"{search_namespace}:vz:16:{PARTITION}") == 3
    assert await index.search(PARTITION, _vec(1.0, 0.0), SIGNATURE, 0.999) is None  # k0 evicted
    assert await index.search(PARTITION, _vec(1.0, 4.0), SIGNATURE, 0.999) is not None
    await asyncio.sleep(0.8)
    assert await index.search(PARTITION, _vec(1.0, 4.0), SIGNATURE, 0.0) is None
    assert client.keys(f"{index.key_prefix(16)}*") == []
    client.close()


async def test_a_dropped_index_is_created_again(search_url: str, search_namespace: str) -> None:
    index = RedisSearchVectorIndex(_guarded(search_url), search_namespace, capacity=10)
    await index.add(PARTITION, "k", SIGNATURE, _vec(1.0), 60.0)
    client = redis.Redis.from_url(search_url)
    client.ft(index.index_name(16)).dropindex(delete_documents=True)
    client.close()
    assert await index.search(PARTITION, _vec(1.0), SIGNATURE, 0.5) is None
    await index.add(PARTITION, "k", SIGNATURE, _vec(1.0), 60.0)
    assert await index.search(PARTITION, _vec(1.0), SIGNATURE, 0.5) is not None
