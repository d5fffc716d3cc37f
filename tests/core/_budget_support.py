"""The budget stores the tests run against: in memory, on the local Redis, on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from modelmuxer.budgets import BudgetStore, MemoryBudgetStore


@asynccontextmanager
async def budget_store(
    request: pytest.FixtureRequest, kind: str, clock: Callable[[], float]
) -> AsyncIterator[BudgetStore]:
    """A fresh store of ``kind`` (``memory``, ``redis`` or ``postgres``) on ``clock``, its keys
    or tables removed afterwards. The Redis and PostgreSQL ones skip (saying why) through the
    ``redis_url`` / ``postgres_url`` fixtures when the server is not there."""
    tag = uuid.uuid4().hex[:10]
    if kind == "memory":
        yield MemoryBudgetStore(clock=clock)
    elif kind == "redis":
        from redis.asyncio import Redis

        from modelmuxer.budgets.redis import RedisBudgetStore

        url = request.getfixturevalue("redis_url")
        store = RedisBudgetStore(url, namespace=f"test:budgets:{tag}", clock=clock)
        yield store
        client = Redis.from_url(url)
        keys = [k async for k in client.scan_iter(match=f"{{test:budgets:{tag}}}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await store.aclose()
    else:
        from modelmuxer.budgets.postgres import PostgresBudgetStore

        url = request.getfixturevalue("postgres_url")
        pg = PostgresBudgetStore(
            url, table_prefix=f"test_budget_{tag}", sweep_interval_s=0.0, clock=clock
        )
        yield pg
        await pg.drop_tables()
        await pg.aclose()
