"""Closing a muxer releases what its parts opened: the ledger flushes, Redis connections close."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from _ledger_support import fetch_rows
from _support import OFFLINE_MODELS

from modelmuxer import Completion, Muxer
from modelmuxer.budgets.model import to_usd
from modelmuxer.config import load_settings
from modelmuxer.pipeline import SyncBridge


def _settings(redis_url: str, tmp_path: Path) -> object:
    namespace = f"mm-close-{uuid.uuid4().hex[:8]}"
    return load_settings(
        load_entrypoints=False,
        cache={"enabled": True, "backend": "redis", "redis_url": redis_url, "namespace": namespace},
        budgets={
            "backend": redis_url,
            "namespace": namespace,
            "budgets": [{"scope": "global", "period": "day", "limit_usd": 5}],
        },
        ledger={
            "enabled": True,
            "url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
            "outbox_dir": str(tmp_path / "outbox"),
        },
    )


def test_close_after_sync_calls_leaves_no_open_connection(redis_url: str, tmp_path: Path) -> None:
    gc.collect()  # earlier tests' garbage is theirs: collect it before watching for leaks
    muxer = Muxer(OFFLINE_MODELS, settings=_settings(redis_url, tmp_path))  # type: ignore[arg-type]
    assert [muxer.complete("hello", max_tokens=20).cache for _ in range(2)] == ["miss", "exact"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        muxer.close()
        muxer.close()  # idempotent
        del muxer
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]
    assert not list((tmp_path / "outbox").glob("*.jsonl"))  # flushed: nothing left to replay


async def test_aclose_after_async_calls_leaves_no_open_connection(
    redis_url: str, tmp_path: Path
) -> None:
    gc.collect()  # earlier tests' garbage is theirs: collect it before watching for leaks
    muxer = Muxer(OFFLINE_MODELS, settings=_settings(redis_url, tmp_path))  # type: ignore[arg-type]
    assert (await muxer.acomplete("hello", max_tokens=20)).cache == "miss"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await muxer.aclose()
        await muxer.aclose()
        del muxer
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- closing while sync calls run in other threads ------------------------------------------------


def _slow(tmp_path: Path) -> Muxer:
    settings = load_settings(
        load_entrypoints=False,
        budgets={"budgets": [{"scope": "global", "period": "day", "limit_usd": 5}]},
        ledger={
            "enabled": True,
            "url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
            "outbox_dir": str(tmp_path / "outbox"),
            "flush_interval_s": 60.0,
        },
    )
    return Muxer(OFFLINE_MODELS, settings=settings)


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_close_lets_sync_calls_in_flight_finish_and_records_them(tmp_path: Path) -> None:
    # A service shutting down closes its muxer while worker threads are mid-call: the calls
    # finish, their cost is settled and recorded before the ledger flushes, and no thread is
    # left waiting on a loop that was stopped under it.
    muxer = _slow(tmp_path)
    muxer.complete("warm up", max_tokens=5)
    slow = {"offline": {"latency_s": 0.5}}
    thread, outcome = _in_thread(lambda: muxer.complete("Why?", max_tokens=20, metadata=slow))
    time.sleep(0.15)  # the call is waiting on its model
    muxer.close()
    thread.join(5.0)
    assert not thread.is_alive(), "the calling thread hangs after close()"
    (completion,) = outcome
    assert isinstance(completion, Completion)
    rows = fetch_rows(muxer.settings.ledger.resolved_url())
    assert completion.request_id in {r["request_id"] for r in rows}
    assert muxer.budgets is not None
    (state,) = asyncio.run(muxer.budgets.states())
    assert state.reserved_usd == 0
    assert state.spent_usd == to_usd(sum(r["cost_usd"] for r in rows))


def test_a_sync_call_still_running_when_the_bridge_closes_fails_rather_than_hangs() -> None:
    bridge = SyncBridge()
    thread, outcome = _in_thread(lambda: bridge.run(asyncio.sleep(30)))
    time.sleep(0.1)
    bridge.close()
    thread.join(5.0)
    assert not thread.is_alive(), "the calling thread hangs after close()"
    (error,) = outcome
    assert isinstance(error, RuntimeError)
    assert "closed" in str(error)
