"""The deployment guide: its settings file is valid, shares every part, and works as it says.

The last test runs the page's set-up for real: its settings file pointed at the local Redis and
PostgreSQL (keys and rows under a random prefix), migrations applied once, then two processes one
after the other. The second is served the first one's cached answer, counted in the same
rate-limit window, recorded in the same ledger and charged to the same budget.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tomllib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from _codeblocks import ROOT, blocks, offline_env

from modelmuxer.config import load_settings

PAGE = ROOT / "docs" / "deploying.md"


def _block(title: str) -> str:
    [found] = [b.body for b in blocks(PAGE.read_text()) if b.title == title]
    return found


def test_the_settings_file_loads_and_shares_state(tmp_path: Path) -> None:
    path = tmp_path / "modelmuxer.toml"
    path.write_text(_block("modelmuxer.toml"))
    settings = load_settings(path)  # validates only: nothing connects
    assert settings.cache.enabled
    assert settings.cache.backend == "redis"
    assert settings.limits.store == "redis"
    assert settings.limits.limits
    assert settings.budgets.backend.get_secret_value().startswith("redis://")
    assert settings.budgets.budgets
    assert settings.budgets.on_unavailable == "closed"
    assert settings.ledger.enabled
    assert settings.ledger.url is not None
    assert settings.ledger.url.get_secret_value().startswith("postgresql+asyncpg://")
    assert not settings.ledger.auto_migrate
    assert settings.audit.enabled
    assert settings.telemetry.metrics


def test_the_proxy_config_names_the_callback() -> None:
    config = yaml.safe_load(_block("config.yaml"))
    assert config["litellm_settings"]["callbacks"] == "modelmuxer_callback.modelmuxer"
    ids = [d["model_info"]["id"] for d in config["model_list"]]
    assert len(ids) == len(set(ids)), "deployment ids name the choice: keep them unique"
    callback = _block("modelmuxer_callback.py")
    assert "modelmuxer = ModelMuxerCallback.for_proxy(" in callback


# -- the page's set-up, for real: two processes on the local Redis and PostgreSQL --------------

WORKER = """
import json, sys
from modelmuxer import Muxer, RateLimited

config, org, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with Muxer.from_config(config) as muxer:
    for question in questions:
        try:
            answer = muxer.complete(question, identity={"org": org, "user": "u1"}, max_tokens=60)
        except RateLimited:
            print(json.dumps({"question": question, "refused": True}))
            continue
        print(json.dumps({"question": question, "cache": answer.cache, "cost": answer.cost_usd}))
"""


def _shared_settings(redis: str, postgres: str, prefix: str, folder: Path) -> dict[str, Any]:
    """The page's file, pointed at the test servers, with keys under ``prefix``."""
    settings = tomllib.loads(_block("modelmuxer.toml"))
    settings["models"] = [{"id": "offline/openai/gpt-4o-mini"}, {"id": "offline/openai/gpt-4o"}]
    settings["ledger"] |= {"url": postgres, "outbox_dir": str(folder / "outbox")}
    settings["budgets"] |= {"backend": redis, "namespace": prefix}
    settings["cache"] |= {"redis_url": redis, "namespace": prefix}
    settings["limits"] |= {"redis_url": redis, "key_prefix": prefix}
    settings["limits"]["limits"] = [{"scope": "user", "subject": "*", "amount": 5, "window_s": 60}]
    del settings["audit"]  # one chain per database: its own tests cover many writers
    return settings


def _run_worker(
    config: Path, org: str, questions: list[str], env: dict[str, str]
) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(config), org, json.dumps(questions)],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def _ledger_rows(url: str, org: str, *, delete: bool = False) -> tuple[int, Decimal]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if delete:
            await conn.execute(text("DELETE FROM ledger_calls WHERE org = :org"), {"org": org})
            count, total = 0, Decimal(0)
        else:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*), coalesce(sum(cost_usd), 0) FROM ledger_calls "
                        "WHERE org = :org"
                    ),
                    {"org": org},
                )
            ).one()
            count, total = int(row[0]), Decimal(str(row[1]))
    await engine.dispose()
    return count, total


async def _budget_spent(config: Path, org: str) -> Decimal:
    from modelmuxer import Identity, Muxer

    async with Muxer.from_config(config) as muxer:
        assert muxer.budgets is not None
        [state] = await muxer.budgets.states(Identity(org=org))
        return state.spent_usd


async def _drop_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"*{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.slow
def test_two_processes_share_cache_budgets_limits_and_ledger(
    redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    prefix = f"test_deploying_{uuid.uuid4().hex[:10]}"
    org = prefix  # the ledger rows of this test, and nobody else's
    config = tmp_path / "modelmuxer.json"  # a JSON settings file works as the TOML one does
    config.write_text(json.dumps(_shared_settings(redis_url, postgres_url, prefix, tmp_path)))
    env = offline_env(tmp_path)
    # the release step the page describes: migrations once, before the processes start
    cli = Path(sys.executable).with_name("modelmuxer")
    migrated = subprocess.run(
        [str(cli), "db", "upgrade", "--url", postgres_url], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    try:
        first = _run_worker(config, org, ["What is 2 + 2?", "Name a prime.", "Say hi."], env)
        second = _run_worker(config, org, ["What is 2 + 2?", "Name two primes.", "Say bye."], env)
        # the cache is shared: the second process is served the first one's answer
        assert [a.get("cache") for a in first] == ["miss", "miss", "miss"]
        assert second[0]["cache"] == "exact"
        assert second[0]["cost"] == 0
        # the rate-limit window is shared: 5 requests per user per minute over both processes
        assert [a.get("refused", False) for a in first + second] == [False] * 5 + [True]
        # one ledger, both processes: every answered call is a row, at the cost it was charged
        answered = [a for a in first + second if not a.get("refused")]
        rows, total = asyncio.run(_ledger_rows(postgres_url, org))
        assert rows == len(answered)
        charged = sum(Decimal(str(a["cost"])) for a in answered)
        assert abs(total - charged) < Decimal("0.000001")
        # one budget counter: what both processes spent
        spent = asyncio.run(_budget_spent(config, org))
        assert spent > 0
        assert abs(spent - total) < Decimal("0.000001")
    finally:
        asyncio.run(_ledger_rows(postgres_url, org, delete=True))
        asyncio.run(_drop_keys(redis_url, prefix))
