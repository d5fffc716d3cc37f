"""Budget benchmark: reserve + settle through the guard on the real Redis, from 4 processes.

Each process runs a :class:`~modelmuxer.budgets.BudgetGuard` over a
:class:`~modelmuxer.budgets.redis.RedisBudgetStore` (one namespace shared by all processes, two
budgets per reservation: an org's and the global one) and keeps ``in_flight`` reserve+settle
pairs going. Reported: p50 / p99 of one pair (reserve, then settle) and pairs per second over all
processes, next to one process with one pair in flight (the bare round-trip cost).

Run alone: ``python benchmarks/bench_budgets.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {
        "p50_us": ordered[n // 2] / 1000,
        "p99_us": ordered[min(n - 1, int(n * 0.99))] / 1000,
        "n": n,
    }


async def _pairs(namespace: str, n: int, in_flight: int) -> tuple[list[int], float, float]:
    from modelmuxer.budgets import Budget, BudgetGuard
    from modelmuxer.budgets.redis import RedisBudgetStore
    from modelmuxer.types import Identity

    budgets = [
        Budget(scope="org", subject="*", period="day", limit_usd=Decimal("1e9")),
        Budget(scope="global", period="month", limit_usd=Decimal("1e9")),
    ]
    guard = BudgetGuard(RedisBudgetStore(REDIS_URL, namespace=namespace), budgets)
    who = Identity(org="acme", user="ann")
    await guard.settle(
        await guard.reserve(who, "m", Decimal("0.01")), Decimal("0.005")
    )  # connect, load scripts
    samples: list[int] = []
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter_ns()
            held = await guard.reserve(who, "m", Decimal("0.002"))
            await guard.settle(held, Decimal("0.0013"))
            samples.append(time.perf_counter_ns() - t0)

    start = time.time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    end = time.time()
    await guard.aclose()
    return samples, start, end


def _process(namespace: str, n: int, in_flight: int, barrier: Any, out: Any) -> None:
    barrier.wait()  # every process starts together
    out.put(asyncio.run(_pairs(namespace, n, in_flight)))


def _run(processes: int, n: int, in_flight: int) -> dict[str, float]:
    namespace = f"bench:budgets:{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(namespace, n, in_flight, barrier, out))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    asyncio.run(_drop(namespace))
    samples = [s for r in results for s in r[0]]
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return {
        **_percentiles(samples),
        "processes": processes,
        "in_flight": in_flight,
        "per_s": len(samples) / wall,
    }


async def _drop(namespace: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{{{namespace}}}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _reachable() -> str | None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1.0):
            return None
    except OSError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"


def bench_budgets(n_per_process: int = 5000, in_flight: int = 16) -> dict[str, Any]:
    """Reserve+settle on Redis: 1 process x 1 in flight, 4 processes x 1, 4 x ``in_flight``."""
    why = _reachable()
    if why is not None:
        return {"skipped": why}
    return {
        "single": _run(1, max(n_per_process // 4, 200), 1),
        "four": _run(4, max(n_per_process // 4, 200), 1),
        "four_busy": _run(4, n_per_process, in_flight),
    }


def render_budgets(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    head = ["## Budgets: reserve + settle on Redis (two budgets per reservation)", ""]
    if "skipped" in result:
        return [*head, f"Skipped: {result['skipped']}", ""]
    rows = [
        "| processes | in flight each | p50 µs | p99 µs | pairs/s | pairs |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for key in ("single", "four", "four_busy"):
        r = result[key]
        rows.append(
            f"| {r['processes']} | {r['in_flight']} | {r['p50_us']:.0f} | {r['p99_us']:.0f} "
            f"| {r['per_s']:.0f} | {r['n']} |"
        )
    notes = [
        "",
        "A pair is one `BudgetGuard.reserve` (a Lua script: reclaim expired leases, check and",
        "reserve on both counters, record the lease) and one `settle` (a second script): two",
        "round trips to Redis. Latency under load includes queueing behind the other pairs in",
        "flight; pairs/s is over all processes, from the first start to the last finish.",
        "",
    ]
    return [*head, *rows, *notes]


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    quick = "--quick" in sys.argv
    outcome = bench_budgets(n_per_process=500 if quick else 5000)
    print("\n".join(render_budgets(outcome)))
