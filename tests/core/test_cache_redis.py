"""The caches on a real Redis: tenant isolation, exact hits, semantic near misses, TTLs, and
requests that keep being served while Redis is stopped, killed and restarted.

The shared Redis (``redis_url``) is only read and written under a unique namespace; the
SIGSTOP / SIGKILL tests run their own ``redis-server`` on a free port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from _private_redis import PrivateRedis
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import Muxer
from modelmuxer.config import load_settings
from modelmuxer.testing import NEAR_MISS_PAIRS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O, _ = OFFLINE_MODELS
PROMPT = "Explain how photosynthesis turns light into sugar."
TOOLS = [{"type": "function", "function": {"name": "search"}}]


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own on the shared Redis, deleted afterwards."""
    name = f"mmtest-cache-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _redis_muxer(make_muxer: MakeMuxer, url: str, namespace: str, **cache: Any) -> Muxer:
    # a generous timeout: these tests are about correctness, not about a slow shared machine
    values = {"enabled": True, "backend": "redis", "redis_url": url, "namespace": namespace}
    settings = load_settings(cache={**values, "redis_timeout_s": 1.0, **cache})
    return make_muxer(OFFLINE_MODELS, settings=settings)


async def test_identical_requests_always_hit(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace)
    first = await muxer.acomplete(PROMPT, identity={"org": "acme"})
    statuses = [(await muxer.acomplete(PROMPT, identity={"org": "acme"})).cache for _ in range(30)]
    assert first.cache == "miss"
    assert statuses == ["exact"] * 30
    # another process (another muxer) sharing the Redis gets the same answers
    other = _redis_muxer(make_muxer, redis_url, namespace)
    shared = await other.acomplete(PROMPT, identity={"org": "acme"})
    assert shared.cache == "exact"
    assert shared.text == first.text
    await other.aclose()  # closes this loop's Redis connections; a later call reconnects
    assert (await other.acomplete(PROMPT, identity={"org": "acme"})).cache == "exact"


async def test_two_tenants_never_hit_each_other(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace)
    prompts = [f"{PROMPT} Part {i}." for i in range(10)]
    for prompt in prompts:
        assert (await muxer.acomplete(prompt, identity={"org": "acme"})).cache == "miss"
    cross = [(await muxer.acomplete(p, identity={"org": "globex"})).cache for p in prompts]
    assert cross.count("exact") + cross.count("semantic") == 0


@pytest.mark.parametrize(
    "change", [{"model": FOUR_O}, {"temperature": 0.8}, {"tools": TOOLS}, {"seed": 7}]
)
async def test_another_model_temperature_or_tool_set_never_hits(
    make_muxer: MakeMuxer, redis_url: str, namespace: str, change: dict[str, Any]
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace, semantic=True)
    base: dict[str, Any] = {"model": MINI, "temperature": 0.0}
    await muxer.acomplete(PROMPT, **base)
    assert (await muxer.acomplete(PROMPT, **{**base, **change})).cache == "miss"


async def test_keys_are_namespaced_and_expire(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace, ttl_s=0.5)
    await muxer.acomplete(PROMPT)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    assert len(keys) == 1
    assert keys[0].startswith(f"{namespace}:x:".encode())
    assert 0 < client.pttl(keys[0]) <= 500
    client.close()
    assert (await muxer.acomplete(PROMPT)).cache == "exact"
    await asyncio.sleep(0.7)
    assert (await muxer.acomplete(PROMPT)).cache == "miss"


async def test_semantic_on_redis_finds_variants_and_no_near_miss(
    make_muxer: MakeMuxer, redis_url: str, namespace: str
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace, semantic=True, semantic_threshold=0.3)
    for first, _ in NEAR_MISS_PAIRS:
        await muxer.acomplete(first, model=MINI, temperature=0)
    false_hits = [
        (await muxer.acomplete(second, model=MINI, temperature=0)).cache
        for _, second in NEAR_MISS_PAIRS
    ]
    assert false_hits == ["miss"] * len(NEAR_MISS_PAIRS)
    # a second process finds a variant through its own mirror of the partition
    other = _redis_muxer(make_muxer, redis_url, namespace, semantic=True)
    variant = await other.acomplete("what is 2 + 2", model=MINI, temperature=0)
    assert variant.cache == "semantic"


@pytest.mark.parametrize(
    "fields",
    [
        {"k": "k", "g": "g", "t": "1e20", "v": b"\x01\x02\x03"},  # not float32s
        {"k": "k", "g": "g", "t": "1e20", "v": np.ones(7, np.float32).tobytes()},  # other embedder
        {"junk": "1"},  # no fields of ours
        {"k": b"\xff\xfe", "g": "g", "t": "soon", "v": b"\0\0\0\0"},  # not text, not a time
    ],
    ids=["odd-bytes", "other-dimensions", "foreign-fields", "not-utf8"],
)
async def test_foreign_entries_in_a_partition_stream_are_skipped_with_a_warning(
    make_muxer: MakeMuxer,
    redis_url: str,
    namespace: str,
    fields: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another deployment on the namespace (another embedder) or anything else writing under
    its prefix must cost misses, never failed requests."""
    cache = {"semantic": True, "redis_vector_search": "client"}
    await _redis_muxer(make_muxer, redis_url, namespace, **cache).acomplete(PROMPT, temperature=0)
    client = redis.Redis.from_url(redis_url)
    (stream,) = client.scan_iter(match=f"{namespace}:s:*")
    client.xadd(stream, fields)
    client.close()
    fresh = _redis_muxer(make_muxer, redis_url, namespace, **cache)  # mirrors the stream anew
    variant = await fresh.acomplete(PROMPT.replace(".", "!"), temperature=0)
    assert variant.cache == "semantic"  # the good entry is still found
    assert "skipped 1 unreadable" in caplog.text


@pytest.mark.parametrize("raw", [b"\xff\xfe not json", b'{"text": "from another program"}'])
async def test_a_foreign_answer_is_a_logged_miss_then_replaced(
    make_muxer: MakeMuxer,
    redis_url: str,
    namespace: str,
    raw: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    muxer = _redis_muxer(make_muxer, redis_url, namespace)
    first = await muxer.acomplete(PROMPT)
    client = redis.Redis.from_url(redis_url)
    (key,) = client.scan_iter(match=f"{namespace}:x:*")
    client.set(key, raw, px=60_000)
    client.close()
    assert (await muxer.acomplete(PROMPT)).cache == "miss"
    assert "Redis cache entry skipped (a miss)" in caplog.text
    again = await muxer.acomplete(PROMPT)  # the miss stored a good answer over it
    assert (again.cache, again.text) == ("exact", first.text)


# -- Redis slow or gone ---------------------------------------------------------------------------


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def _serve(muxer: Muxer, n: int, failures: list[BaseException]) -> list[str]:
    """``n`` requests over a few prompts; errors are collected, not raised."""
    statuses = []
    for i in range(n):
        try:
            done = await muxer.acomplete(f"{PROMPT} Topic {i % 3}.", temperature=0)
            statuses.append(done.cache)
        except Exception as exc:  # the assertion below reports them
            failures.append(exc)
    return statuses


async def _until_hit(muxer: Muxer, attempts: int = 200) -> bool:
    for _ in range(attempts):
        if (await muxer.acomplete(f"{PROMPT} Topic 0.", temperature=0)).cache == "exact":
            return True
        await asyncio.sleep(0.05)
    return False


async def test_requests_are_served_while_redis_is_stopped_killed_and_restarted(
    make_muxer: MakeMuxer, private_redis: PrivateRedis
) -> None:
    settings = load_settings(
        cache={
            "enabled": True,
            "backend": "redis",
            "redis_url": private_redis.url,
            "semantic": True,
            "redis_timeout_s": 0.05,
            "breaker_failures": 2,
            "breaker_cooldown_s": 0.2,
        }
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    failures: list[BaseException] = []
    assert "exact" in await _serve(muxer, 6, failures)

    private_redis.signal(signal.SIGSTOP)
    stopped = await _serve(muxer, 12, failures)
    assert set(stopped) <= {"miss"}  # the cache is bypassed: answered by the model

    private_redis.signal(signal.SIGCONT)
    assert await _until_hit(muxer)

    # killed while a batch of concurrent requests runs
    batch = asyncio.gather(*(_serve(muxer, 4, failures) for _ in range(4)))
    private_redis.signal(signal.SIGKILL)
    await batch
    assert set(await _serve(muxer, 6, failures)) <= {"miss"}

    private_redis.start()  # same port, empty
    await _serve(muxer, 1, failures)  # stores again once the breaker lets a probe through
    assert await _until_hit(muxer)
    assert failures == []
