"""Cache benchmarks: exact hit latency (memory and the local Redis), semantic lookup latency at
10k and 100k entries per tenant, memory per 100k in-memory entries, and the false-hit rate on
near-miss prompt pairs.

The 100k-entry Redis partition is written to a private ``redis-server`` started for the run
(about 120 MB), not to the shared one.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import subprocess
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from modelmuxer import Muxer
from modelmuxer.cache import HashedNgramEmbedder, MemoryAnswers, prompt_signature
from modelmuxer.cache.vectors import normalize_rows
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.testing import NEAR_MISS_PAIRS
from modelmuxer.types import Request

MODELS = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
PROMPT = "Explain how photosynthesis turns light, water and carbon dioxide into sugar."
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _p50_us(samples_ns: list[int]) -> float:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000


async def _time_async(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await fn()
            samples.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return _p50_us(samples)


def _ctx(muxer: Muxer, **kwargs: Any) -> Callable[[], RequestContext]:
    return context_factory(muxer, muxer.request(PROMPT, **kwargs))


def context_factory(muxer: Muxer, request: Request) -> Callable[[], RequestContext]:
    """Fresh contexts for ``request`` (a cache lookup takes one per request)."""
    strategy = muxer.default_strategy

    def make() -> RequestContext:
        return RequestContext(
            request=request,
            strategy=strategy,
            stream=False,
            started_at=datetime.now(UTC),
            started_perf=time.perf_counter(),
        )

    return make


async def _exact(muxer: Muxer, n: int) -> dict[str, float]:
    """p50 of a hit: the raw lookup, and a whole ``acomplete``; a miss for comparison."""
    await muxer.acomplete(PROMPT)
    make = _ctx(muxer)
    lookup = await _time_async(lambda: muxer.cache.lookup(make()), n)
    hit = await _time_async(lambda: muxer.acomplete(PROMPT), n)
    miss = await _time_async(
        lambda: muxer.acomplete(PROMPT, routing={"cache": {"no_cache": True, "no_store": True}}),
        max(50, n // 5),
    )
    return {"lookup_p50_us": lookup, "acomplete_hit_p50_us": hit, "acomplete_miss_p50_us": miss}


def bench_exact(n: int) -> dict[str, Any]:
    """Exact hits in memory and on the local (shared) Redis."""
    out: dict[str, Any] = {}
    memory = Muxer(MODELS, settings=load_settings(cache={"enabled": True}), load_entrypoints=False)
    out["memory"] = asyncio.run(_exact(memory, n))
    namespace = f"mmbench-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        cache={"enabled": True, "backend": "redis", "redis_url": REDIS_URL, "namespace": namespace}
    )
    redis_muxer = Muxer(MODELS, settings=settings, load_entrypoints=False)
    try:
        out["redis"] = asyncio.run(_exact(redis_muxer, n))
    finally:
        _drop_namespace(REDIS_URL, namespace)
    return out


def _drop_namespace(url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _prompts(n: int) -> list[str]:
    topics = ["photosynthesis", "tides", "inflation", "recursion", "volcanoes", "jazz", "tariffs"]
    return [
        f"Explain {topics[i % 7]} for case {i} in plain words, step {i * 7 % 13}." for i in range(n)
    ]


async def _fill_and_probe(index: Any, sizes: tuple[int, ...], probes: int) -> dict[str, float]:
    from modelmuxer.cache.semantic import SemanticCache

    embedder = HashedNgramEmbedder()
    cache = SemanticCache(embedder, index, threshold=0.9)
    out, filled = {}, 0
    texts = _prompts(max(sizes))
    for size in sizes:
        vectors = normalize_rows(await embedder.aembed(texts[filled:size]))
        for text, vector in zip(texts[filled:size], vectors, strict=True):
            await index.add(
                "tenant-partition", uuid.uuid4().hex, prompt_signature(text), vector, 3600
            )
        filled = size
        if hasattr(index, "sync"):
            while not await index.sync("tenant-partition"):
                pass
        out[f"{size}"] = await _time_async(
            lambda: cache.probe("tenant-partition", "Explain tides for case 3, step 8?"), probes
        )
    return out


def _private_redis() -> tuple[subprocess.Popen[bytes], str, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="mmbench-redis-")
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0", workdir


def bench_semantic(probes: int, sizes: tuple[int, ...] = (10_000, 100_000)) -> dict[str, Any]:
    """p50 of one semantic probe (embed + search) with ``sizes`` entries in the partition."""
    from modelmuxer.cache.breaker import CircuitBreaker
    from modelmuxer.cache.redis import GuardedRedis
    from modelmuxer.cache.redis_vectors import RedisVectorIndex
    from modelmuxer.cache.semantic import MemoryVectorIndex

    big = 2**34
    memory = MemoryVectorIndex(capacity=max(sizes), max_bytes=big)
    out: dict[str, Any] = {"memory": asyncio.run(_fill_and_probe(memory, sizes, probes))}
    proc, url, workdir = _private_redis()
    try:
        guarded = GuardedRedis(url, timeout_s=2.0, breaker=CircuitBreaker(failures=3, cooldown_s=1))
        index = RedisVectorIndex(
            guarded, "bench", capacity=max(sizes), max_bytes=big, sync_batch=5000
        )
        out["redis"] = asyncio.run(_fill_and_probe(index, sizes, probes))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def bench_memory(entries: int = 100_000) -> dict[str, float]:
    """Bytes per in-memory answer (tracemalloc), and per semantic vector."""
    muxer = Muxer(MODELS, load_entrypoints=False)
    completion = muxer.complete(PROMPT)
    muxer.close()
    answers = MemoryAnswers(max_entries=entries, max_bytes=2**34, ttl_s=3600)
    texts = [f"{completion.text} ({i})" for i in range(entries)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]

    async def fill() -> None:
        for text in texts:
            await answers.put(uuid.uuid4().hex, completion.model_copy(update={"text": text}), 3600)

    asyncio.run(fill())
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "entries": entries,
        "answer_chars": len(completion.text),
        "total_mb": used / 2**20,
        "bytes_per_entry": used / entries,
        "vector_bytes_per_entry": HashedNgramEmbedder().dimensions * 4,
    }


def bench_false_hits() -> dict[str, Any]:
    """Near-miss pairs served from the cache: with the guards (at the default threshold and at
    a threshold of 0.05, guards only) and, for comparison, similarity alone."""
    from modelmuxer.cache.settings import CacheSettings

    default = CacheSettings().semantic_threshold
    embedder = HashedNgramEmbedder()

    async def run(threshold: float) -> int:
        settings = load_settings(
            cache={"enabled": True, "semantic": True, "semantic_threshold": threshold}
        )
        hits = 0
        with Muxer(MODELS[:1], settings=settings, load_entrypoints=False) as muxer:
            for i, (first, second) in enumerate(NEAR_MISS_PAIRS):
                who = {"org": f"pair-{i}"}  # each pair alone in its partition
                await muxer.acomplete(first, temperature=0, identity=who)
                hits += (await muxer.acomplete(second, temperature=0, identity=who)).cache != "miss"
        return hits

    async def similarity_only() -> int:
        count = 0
        for first, second in NEAR_MISS_PAIRS:
            v = normalize_rows(await embedder.aembed([first, second]))
            count += float(v[0] @ v[1]) >= default
        return count

    return {
        "pairs": len(NEAR_MISS_PAIRS),
        "threshold": default,
        "false_hits_default": asyncio.run(run(default)),
        "false_hits_threshold_0_05": asyncio.run(run(0.05)),
        "similarity_only_false_hits": asyncio.run(similarity_only()),
    }


def bench_cache(n_calls: int = 3000, quick: bool = False) -> dict[str, Any]:
    """Every cache figure of the run."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    return {
        "exact": bench_exact(n_calls),
        "semantic": bench_semantic(max(50, n_calls // 10), sizes),
        "memory": bench_memory(10_000 if quick else 100_000),
        "false_hits": bench_false_hits(),
    }


if __name__ == "__main__":
    import json
    import sys

    print(
        json.dumps(
            bench_cache(300 if "--quick" in sys.argv else 3000, "--quick" in sys.argv), indent=2
        )
    )


def render_cache(cache: dict[str, Any]) -> list[str]:
    """The cache section of RESULTS.md."""
    ex, sem, mem, fh = cache["exact"], cache["semantic"], cache["memory"], cache["false_hits"]
    lines = [
        "## Caches (goals: exact hit p50 at most 30 µs in memory, 400 µs on the local Redis)",
        "",
        "| exact cache | raw lookup p50 µs | `acomplete` hit p50 µs | bypassing p50 µs |",
        "|---|---:|---:|---:|",
    ]
    for backend in ("memory", "redis"):
        row = ex[backend]
        lines.append(
            f"| {backend} | **{row['lookup_p50_us']:.1f}** | {row['acomplete_hit_p50_us']:.1f} "
            f"| {row['acomplete_miss_p50_us']:.1f} |"
        )
    sizes = list(sem["memory"])
    lines += [
        "",
        "Bypassing: `acomplete` with `no_cache` and `no_store` over the offline backend.",
        "",
        "| semantic probe (embed + search) p50 µs | "
        + " | ".join(f"{s} entries" for s in sizes)
        + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for backend in ("memory", "redis"):
        lines.append(f"| {backend} | " + " | ".join(f"{sem[backend][s]:.0f}" for s in sizes) + " |")
    lines += [
        "",
        "One partition (tenant) of templated prompts, default embedder (256 dimensions). Redis:",
        "one `XRANGE` round trip to catch up, then the same in-process search over the mirror.",
        "",
        f"Memory: {mem['bytes_per_entry']:.0f} bytes per in-memory answer "
        f"({mem['answer_chars']}-character answers, {mem['entries']} entries: "
        f"{mem['total_mb']:.1f} MB, tracemalloc); a semantic vector adds "
        f"{mem['vector_bytes_per_entry']} bytes.",
        "",
        f"False hits on {fh['pairs']} near-miss pairs: **{fh['false_hits_default']}** at the "
        f"default threshold {fh['threshold']}, {fh['false_hits_threshold_0_05']} at a threshold "
        f"of 0.05 (the guards alone); similarity alone would serve "
        f"{fh['similarity_only_false_hits']} of them.",
        "",
    ]
    return lines
