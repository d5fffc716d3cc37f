"""4 processes x 16 threads, 1,024 attempts against a limit of 100 requests on the real Redis:
exactly 100 are admitted, every run.

Each process builds a :class:`~modelmuxer.Muxer` with the limit (``user:*``, 100 per hour, so
nothing frees up during the test) on one shared Redis namespace. Half of its 16 threads make
their 16 attempts through ``muxer.complete`` (the whole pipeline, on the muxer's loop), the
other half call the limiter's admission directly (racing each other for the connection pool).
Every refusal must be a :class:`~modelmuxer.RateLimited`.

Run as a script (``python test_limits_concurrency.py <redis url> <prefix> <dir> <index>``), this
module is one of those processes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROCESSES = 4
THREADS = 16
ATTEMPTS = 16  # per thread: 4 x 16 x 16 = 1,024
LIMIT = 100
IDENTITY = {"user": "ann", "org": "acme"}


def _settings(url: str, prefix: str) -> dict[str, Any]:
    return {
        "store": "redis",
        "redis_url": url,
        "key_prefix": prefix,
        "timeout_s": 2.0,  # 64 clients at once on a small machine; this test is about atomicity
        "on_unavailable": "closed",  # an outage must fail the test, not admit
        "limits": [{"scope": "user", "subject": "*", "amount": LIMIT, "window_s": 3600}],
    }


# -- one worker process ---------------------------------------------------------------------------


def _start_line(folder: Path, index: int) -> None:
    """Wait until every process is ready, so that all of them run at once."""
    (folder / f"ready-{index}").touch()
    while len(list(folder.glob("ready-*"))) < PROCESSES:
        time.sleep(0.005)


def _worker(url: str, prefix: str, folder: Path, index: int) -> dict[str, Any]:
    from modelmuxer import Muxer, RateLimited
    from modelmuxer.config import load_settings
    from modelmuxer.types import Identity

    settings = load_settings(
        models=["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
        limits=_settings(url, prefix),
    )
    muxer = Muxer(settings=settings, load_entrypoints=False)
    limiter = muxer.limits
    assert limiter is not None
    who = Identity(**IDENTITY)
    limiter.states(who)  # connect and load the scripts before the start line
    outcomes: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def attempts(thread: int) -> None:
        go.wait()
        for i in range(ATTEMPTS):
            try:
                if thread % 2:
                    limiter.admit(who)
                else:
                    muxer.complete(
                        f"Attempt {index}-{thread}-{i}: what is a rate limit?", identity=who
                    )
                outcome = "admitted"
            except RateLimited:
                outcome = "refused"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempts, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    _start_line(folder, index)
    go.set()
    for thread in threads:
        thread.join()
    muxer.close()
    return {
        "admitted": outcomes.count("admitted"),
        "refused": outcomes.count("refused"),
        "errors": [o for o in outcomes if o not in ("admitted", "refused")],
    }


# -- the test -------------------------------------------------------------------------------------


def _run(url: str, prefix: str, folder: Path) -> list[dict[str, Any]]:
    from _workers import run_workers  # under pytest only: workers run this file as a script

    return run_workers(__file__, [url, prefix, str(folder)], PROCESSES, timeout_s=300)


@pytest.mark.slow
def test_four_processes_of_sixteen_threads_admit_exactly_the_limit(
    redis_url: str, tmp_path: Path
) -> None:
    from modelmuxer.limits import LimitSettings, RateLimiter
    from modelmuxer.types import Identity

    prefix = f"test:limits:{uuid.uuid4().hex[:10]}"
    try:
        results = _run(redis_url, prefix, tmp_path)
        limiter = RateLimiter.from_settings(
            LimitSettings.model_validate(_settings(redis_url, prefix))
        )
        used = limiter.states(Identity(**IDENTITY))[0].used
        limiter.close()
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert [e for r in results for e in r["errors"]] == []
    admitted = sum(r["admitted"] for r in results)
    refused = sum(r["refused"] for r in results)
    assert admitted + refused == PROCESSES * THREADS * ATTEMPTS == 1024
    assert admitted == LIMIT
    assert used == LIMIT
    assert sum(1 for r in results if r["admitted"] > 0) >= 2, "the processes did not overlap"


if __name__ == "__main__":
    url_arg, prefix_arg, folder_arg, index_arg = sys.argv[1:5]
    summary = _worker(url_arg, prefix_arg, Path(folder_arg), int(index_arg))
    print(json.dumps(summary))
