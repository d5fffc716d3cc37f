"""Rate-limit benchmark: one admission check through the limiter, in memory and on the real Redis.

An admission is what ``modelmuxer_request_start`` does for each request: one request counted on
the user's ``requests`` limit and the org's ``tokens`` limit checked, atomically (in Redis: one
Lua script, one round trip on redis-py's blocking client). Limits are set high enough that
nothing is refused. Reported: p50 / p99 of one admission, one process, one at a time.

Run alone: ``python benchmarks/bench_limits.py [--quick]``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
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


def _admissions(store: str, n: int, prefix: str) -> dict[str, float]:
    from modelmuxer.limits import LimitSettings, RateLimiter
    from modelmuxer.types import Identity

    settings = LimitSettings.model_validate(
        {
            "store": store,
            "redis_url": REDIS_URL,
            "key_prefix": prefix,
            "limits": [
                {"scope": "user", "subject": "*", "amount": 10**9, "window_s": 60},
                {"scope": "org", "subject": "*", "kind": "tokens", "amount": 10**9, "window_s": 60},
            ],
        }
    )
    limiter = RateLimiter.from_settings(settings)
    who = Identity(user="ann", org="acme")
    for _ in range(50):  # connect, load the script, warm up
        limiter.admit(who)
    samples: list[int] = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        limiter.admit(who)
        samples.append(time.perf_counter_ns() - t0)
    limiter.close()
    return _percentiles(samples)


def _drop(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _reachable() -> str | None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1.0):
            return None
    except OSError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"


def bench_limits(n: int = 20_000) -> dict[str, Any]:
    """One admission check: in memory, and on Redis (skipped when Redis is not reachable)."""
    result: dict[str, Any] = {"memory": _admissions("memory", n, "unused")}
    why = _reachable()
    if why is not None:
        result["redis"] = {"skipped": why}
        return result
    prefix = f"bench:limits:{uuid.uuid4().hex[:8]}"
    try:
        result["redis"] = _admissions("redis", max(n // 4, 500), prefix)
    finally:
        _drop(prefix)
    return result


def render_limits(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    rows = [
        "## Rate limits: one admission check (a user's requests limit + an org's tokens limit)",
        "",
        "| store | p50 µs | p99 µs | checks |",
        "|---|---:|---:|---:|",
    ]
    for store in ("memory", "redis"):
        r = result[store]
        if "skipped" in r:
            rows.append(f"| {store} | skipped: {r['skipped']} | | |")
        else:
            rows.append(f"| {store} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['n']} |")
    notes = [
        "",
        "The check runs in `modelmuxer_request_start`, a synchronous hook: on Redis it is one",
        "Lua script (count the request, check the token window, both or neither) and one round",
        "trip on redis-py's blocking client, bounded by `limits.timeout_s` (200 ms).",
        "",
    ]
    return [*rows, *notes]


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    quick = "--quick" in sys.argv
    outcome = bench_limits(n=2_000 if quick else 20_000)
    print("\n".join(render_limits(outcome)))
