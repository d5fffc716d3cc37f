"""Closing a muxer releases what its parts opened: the ledger flushes, Redis connections close."""

from __future__ import annotations

import gc
import uuid
import warnings
from pathlib import Path

from _support import OFFLINE_MODELS

from modelmuxer import Muxer
from modelmuxer.config import load_settings


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
