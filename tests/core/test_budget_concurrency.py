"""4 processes x 125 concurrent requests against a $1.00 budget, on the real Redis and PostgreSQL.

Each process runs a :class:`~modelmuxer.Muxer` over the offline models with the guard and
fires 125 concurrent ``acomplete`` calls whose worst cases add up to far more than the budget.
Afterwards: spent <= $1.00, nothing is left reserved, the calls' records add up to exactly the
counter's spent (and so do the processes' cost ledgers, to the ledger's rounding), and every
refusal was a :class:`~modelmuxer.BudgetExceeded`.

Run as a script (``python test_budget_concurrency.py <backend> <prefix> <dir> <index>``), this
module is one of those processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROCESSES = 4
REQUESTS = 125
LIMIT = Decimal("1.00")
IDENTITY = {"org": "acme", "user": "ann"}
#: offline models priced so that a call costs about a cent: 500 would cost well over $1
MODELS: list[dict[str, Any]] = [
    {"id": "offline/openai/gpt-4o-mini", "input_price_per_mtok": 40, "output_price_per_mtok": 160},
    {"id": "offline/openai/gpt-4o", "input_price_per_mtok": 160, "output_price_per_mtok": 480},
    {
        "id": "offline/anthropic/claude-haiku-4-5",
        "input_price_per_mtok": 80,
        "output_price_per_mtok": 320,
    },
]
BUDGETS = [
    {"scope": "org", "subject": "*", "period": "total", "limit_usd": str(LIMIT)},
    {"scope": "global", "period": "total", "limit_usd": "50"},  # two counters per reservation
]


# -- one worker process ---------------------------------------------------------------------


def _settings(backend: str, prefix: str) -> dict[str, Any]:
    return {
        "backend": backend,
        "budgets": BUDGETS,
        "namespace": prefix,
        "table_prefix": prefix,
        # 500 requests at once on a small machine queue for the CPU far beyond the default
        # 200 ms; this test is about atomicity, not outages (see test_limits_outage.py)
        "timeout_s": 10.0,
    }


def _start_line(folder: Path, index: int) -> None:
    """Wait until every process is ready, so that all of them run at once."""
    (folder / f"ready-{index}").touch()
    while len(list(folder.glob("ready-*"))) < PROCESSES:
        time.sleep(0.01)


async def _worker(backend: str, prefix: str, folder: Path, index: int) -> dict[str, Any]:
    from modelmuxer import BudgetExceeded, Muxer, hookimpl
    from modelmuxer.budgets.model import to_usd
    from modelmuxer.config import load_settings
    from modelmuxer.types import CallRecord

    costs: list[Decimal] = []

    class Costs:
        @hookimpl
        def modelmuxer_record(self, record: CallRecord) -> None:
            costs.append(to_usd(record.cost_usd))

    ledger_url = f"sqlite+aiosqlite:///{folder / f'ledger-{index}.db'}"
    settings = load_settings(
        models=MODELS,
        budgets=_settings(backend, prefix),
        ledger={"enabled": True, "url": ledger_url, "outbox_dir": str(folder / f"outbox-{index}")},
    )
    muxer = Muxer(settings=settings, plugins=[Costs()], load_entrypoints=False)
    assert muxer.budgets is not None
    await muxer.budgets.states()  # connect (and create tables) before the start line
    await asyncio.to_thread(_start_line, folder, index)

    async def one(i: int) -> str:
        prompt = f"Request {index}-{i}: explain how a budget guard reserves money. " * (1 + i % 4)
        try:
            await muxer.acomplete(
                prompt,
                identity=IDENTITY,
                max_tokens=120 + i % 80,
                metadata={"offline": {"latency_s": 0.002 * (i % 5)}},
            )
        except BudgetExceeded:
            return "refused"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    outcomes = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    await muxer.aclose()  # flushes the ledger
    from modelmuxer.ledger.engine import make_engine
    from modelmuxer.ledger.reports import aspend_report

    engine = make_engine(ledger_url)
    report = await aspend_report(engine, by="org")
    await engine.dispose()
    return {
        "ok": outcomes.count("ok"),
        "refused": outcomes.count("refused"),
        "errors": [o for o in outcomes if o not in ("ok", "refused")],
        "records_usd": str(sum(costs, Decimal(0))),
        "ledger_usd": str(sum((line.cost_usd for line in report.lines), Decimal(0))),
        "calls": len(costs),
    }


# -- the test -------------------------------------------------------------------------------


def _run_processes(backend: str, prefix: str, folder: Path) -> list[dict[str, Any]]:
    from _workers import run_workers  # under pytest only: workers run this file as a script

    return run_workers(__file__, [backend, prefix, str(folder)], PROCESSES, timeout_s=600)


async def _counter(backend: str, prefix: str) -> tuple[Decimal, Decimal]:
    from modelmuxer.budgets import BudgetGuard, BudgetSettings
    from modelmuxer.types import Identity

    guard = BudgetGuard.from_settings(BudgetSettings.model_validate(_settings(backend, prefix)))
    states = await guard.states(Identity(**IDENTITY))
    await guard.aclose()
    org = next(s for s in states if s.budget.scope == "org")
    glob = next(s for s in states if s.budget.scope == "global")
    assert (glob.spent_usd, glob.reserved_usd) == (org.spent_usd, org.reserved_usd)
    return org.spent_usd, org.reserved_usd


def _check(backend: str, prefix: str, folder: Path) -> None:
    t0 = time.perf_counter()
    results = _run_processes(backend, prefix, folder)
    spent, reserved = asyncio.run(_counter(backend, prefix))
    ok = sum(r["ok"] for r in results)
    refused = sum(r["refused"] for r in results)
    recorded = sum((Decimal(r["records_usd"]) for r in results), Decimal(0))
    assert [e for r in results for e in r["errors"]] == []
    assert ok + refused == PROCESSES * REQUESTS
    assert refused > 0, "the budget never bound: make the calls dearer"
    assert ok > 0
    assert spent / ok * PROCESSES * REQUESTS > 2 * LIMIT, "500 calls must cost well over $1"
    assert spent <= LIMIT
    assert reserved == 0
    assert recorded == spent
    # the ledgers price each call exactly (from its tokens and the card's prices), the counter
    # settles the record's cost: at these prices both are whole nano-dollars, so they agree
    in_ledger = sum((Decimal(r["ledger_usd"]) for r in results), Decimal(0))
    assert in_ledger == spent
    print(f"{backend}: {ok} ok, {refused} refused, spent ${spent}, {time.perf_counter() - t0:.1f}s")


@pytest.mark.slow
def test_four_processes_share_one_budget_on_redis(redis_url: str, tmp_path: Path) -> None:
    prefix = f"test_budget_{uuid.uuid4().hex[:10]}"
    try:
        _check(redis_url, prefix, tmp_path)
    finally:
        asyncio.run(_drop_redis(redis_url, prefix))


@pytest.mark.slow
def test_four_processes_share_one_budget_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    prefix = f"test_budget_{uuid.uuid4().hex[:10]}"
    try:
        _check(postgres_url, prefix, tmp_path)
    finally:
        asyncio.run(_drop_postgres(postgres_url, prefix))


async def _drop_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=f"{{{prefix}}}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _drop_postgres(url: str, prefix: str) -> None:
    from modelmuxer.budgets.postgres import PostgresBudgetStore

    store = PostgresBudgetStore(url, table_prefix=prefix)
    await store.drop_tables()
    await store.aclose()


if __name__ == "__main__":
    backend_arg, prefix_arg, folder_arg, index_arg = sys.argv[1:5]
    summary = asyncio.run(_worker(backend_arg, prefix_arg, Path(folder_arg), int(index_arg)))
    print(json.dumps(summary))
