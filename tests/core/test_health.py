"""``muxer.health()``: models, Redis servers, databases, the outbox and budgets, on the real
Redis and on private ``redis-server``s that are stopped and killed; and ``modelmuxer health``.

The shared Redis is only written under random namespaces; the outage tests run their own
``redis-server`` on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from _private_redis import PrivateRedis, free_port
from _support import MakeMuxer
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from modelmuxer import ProviderError
from modelmuxer.cli import main
from modelmuxer.config import load_settings
from modelmuxer.health import HealthReport

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
PROMPT = "Name three rivers of Europe."
PASSWORD = "hunter2-not-for-logs"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A prefix of its own on the shared Redis; its keys are deleted afterwards."""
    name = f"mmtest-health-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _ledger(tmp_path: Path, url: str | None = None) -> dict[str, Any]:
    return {
        "enabled": True,
        "url": url or f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        "outbox_dir": str(tmp_path / "outbox"),
    }


def _stores(redis_url: str, namespace: str, **overrides: Any) -> dict[str, Any]:
    """Cache, budgets and limits on one Redis."""
    values: dict[str, Any] = {
        "cache": {
            "enabled": True,
            "backend": "redis",
            "redis_url": redis_url,
            "namespace": f"{namespace}-cache",
            "redis_timeout_s": 1.0,
        },
        "budgets": {
            "backend": redis_url,
            "namespace": f"{namespace}-budgets",
            "timeout_s": 2.0,
            "budgets": [
                {"scope": "global", "period": "day", "limit_usd": 5},
                {"scope": "org", "subject": "acme", "period": "month", "limit_usd": "0.5"},
            ],
        },
        "limits": {
            "store": "redis",
            "redis_url": redis_url,
            "key_prefix": f"{namespace}-limits",
            "timeout_s": 1.0,
            "limits": [{"scope": "user", "subject": "*", "amount": 1000, "window_s": 60}],
        },
    }
    values.update(overrides)
    return values


def _entry(report: HealthReport, component: str) -> Any:
    (found,) = [s for s in [*report.redis, *report.databases] if component in s.used_by]
    return found


async def test_everything_reachable_is_ok_with_latencies_and_headroom(
    make_muxer: MakeMuxer, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    settings = load_settings(ledger=_ledger(tmp_path), **_stores(redis_url, namespace))
    muxer = make_muxer([MINI, FOUR_O], settings=settings)
    for i in range(3):
        await muxer.acomplete(f"{PROMPT} {i}", identity={"org": "acme", "user": "ann"})
    assert muxer.ledger is not None
    assert await muxer.ledger.aflush()

    report = await muxer.ahealth()

    assert report.status == "ok", report.reasons
    assert report.reasons == []
    (target,) = report.redis  # one URL, three components
    assert target.used_by == ["cache", "budgets", "limits"]
    assert target.reachable
    assert target.error is None
    assert target.latency_ms is not None
    assert target.latency_ms > 0
    assert target.breakers == {"cache": "closed", "budgets": "closed", "limits": "closed"}
    (database,) = report.databases
    assert (database.backend, database.used_by, database.reachable) == ("sqlite", ["ledger"], True)
    assert database.latency_ms is not None
    assert report.outbox is not None
    assert report.outbox.records == 0
    calls = {m.model: m.calls for m in report.models}
    assert sum(c or 0 for c in calls.values()) == 3
    assert all(m.breaker == "closed" and m.failures == 0 for m in report.models)

    assert muxer.budgets is not None
    states = {s.budget.name: s for s in await muxer.budgets.states()}
    assert {b.budget for b in report.budgets} == set(states) == {"global/day", "org:acme/month"}
    for budget in report.budgets:
        state = states[budget.budget]
        assert budget.source == "store"
        assert budget.spent_usd == float(state.spent_usd) > 0
        assert budget.remaining_usd == float(state.remaining_usd)
        assert budget.limit_usd == float(state.limit_usd)
        assert budget.used_pct == round(float(state.spent_usd / state.limit_usd) * 100, 2)

    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "ok"
    assert report.http_status == 200
    assert report.exit_code == 0


def test_a_bare_muxer_is_ok_and_the_sync_twin_works(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer([MINI])
    muxer.complete(PROMPT)
    report = muxer.health()
    assert report.status == "ok"
    assert (report.redis, report.databases, report.outbox, report.budgets) == ([], [], None, [])
    (model,) = report.models
    assert (model.model, model.breaker, model.calls, model.error_rate) == (MINI, "closed", 1, 0.0)


async def test_a_stopped_then_killed_redis_is_reported_down_without_its_password(
    make_muxer: MakeMuxer, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    settings = load_settings(
        cache={"enabled": True, "backend": "redis", "redis_url": private_redis.url},
        health={"probe_timeout_s": 0.3},
    )
    muxer = make_muxer([MINI], settings=settings)
    assert (await muxer.ahealth()).status == "ok"

    private_redis.signal(signal.SIGSTOP)  # accepts connections, answers nothing
    stopped = await muxer.ahealth()
    target = _entry(stopped, "cache")
    assert not target.reachable
    assert target.error == "no answer in 0.3 s"  # abandoned at the bound, not waited out
    assert stopped.status == "degraded"
    assert any("the cache is bypassed" in r for r in stopped.reasons)
    assert stopped.http_status == 200  # degraded still serves: readiness holds

    private_redis.signal(signal.SIGKILL)
    killed = muxer.health()
    target = _entry(killed, "cache")
    assert not target.reachable
    assert target.error is not None
    assert "ConnectionError" in target.error
    assert killed.status == "degraded"
    text = json.dumps(killed.to_dict())
    assert PASSWORD not in text
    assert f"redis://:***@127.0.0.1:{private_redis.port}/0" in text


async def test_limits_that_fail_closed_make_an_unreachable_redis_down(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limits = {
        "store": "redis",
        "redis_url": dead,
        "on_unavailable": "closed",
        "limits": [{"scope": "global", "amount": 10, "window_s": 1}],
    }
    budgets = {"backend": dead, "budgets": [{"scope": "global", "limit_usd": 1}]}
    muxer = make_muxer([MINI], settings=load_settings(limits=limits, budgets=budgets))
    report = await muxer.ahealth()
    assert report.status == "down"
    assert report.http_status == 503
    assert report.exit_code == 2
    assert any("limits refuses requests" in r for r in report.reasons)
    assert any("budgets are not enforced" in r for r in report.reasons)  # its rule is open
    (budget,) = report.budgets  # the store did not answer: as this process last saw it
    assert (budget.source, budget.spent_usd, budget.limit_usd) == ("last_seen", 0.0, 1.0)


async def test_a_breaker_opened_by_failures_is_reported(make_muxer: MakeMuxer) -> None:
    settings = load_settings(reliability={"max_fallbacks": 0, "breaker": {"failures": 2}})
    muxer = make_muxer([MINI, FOUR_O], settings=settings)
    await muxer.acomplete(PROMPT, model=FOUR_O)
    for _ in range(2):
        with pytest.raises(ProviderError):
            await muxer.acomplete(
                PROMPT, model=MINI, metadata={"offline": {"fail": "server_error"}}
            )

    report = await muxer.ahealth()

    models = {m.model: m for m in report.models}
    assert models[MINI].breaker == "open"
    assert (models[MINI].calls, models[MINI].failures, models[MINI].error_rate) == (2, 2, 1.0)
    assert (models[FOUR_O].breaker, models[FOUR_O].calls) == ("closed", 1)
    assert report.status == "degraded"
    assert f"circuit breaker open: {MINI}" in report.reasons

    assert muxer.breakers is not None
    muxer.breakers.failed(FOUR_O, "server_error")
    muxer.breakers.failed(FOUR_O, "server_error")
    assert (await muxer.ahealth()).status == "down"  # no model left to call


async def test_a_high_error_rate_is_degraded_before_any_breaker_opens(
    make_muxer: MakeMuxer,
) -> None:
    settings = load_settings(
        reliability={"max_fallbacks": 0, "breaker": {"failures": 100}},
        health={"min_calls": 4, "error_rate_degraded": 0.5},
    )
    muxer = make_muxer([MINI], settings=settings)
    for i in range(4):
        metadata = {"offline": {"fail": "rate_limit"}} if i % 2 else {}
        with contextlib.suppress(ProviderError):
            await muxer.acomplete(f"{PROMPT} {i}", metadata=metadata)
    report = await muxer.ahealth()
    (model,) = report.models
    assert (model.breaker, model.calls, model.failures, model.error_rate) == ("closed", 4, 2, 0.5)
    assert report.status == "degraded"
    assert f"{MINI}: 2 of 4 calls failed in the last 300 s" in report.reasons


async def test_the_outbox_backlog_grows_while_the_ledger_database_is_unreachable(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    closed = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/ledger"
    settings = load_settings(
        ledger={**_ledger(tmp_path, closed), "retry_interval_s": 60.0},
        health={"outbox_max_age_s": 0.001},
        telemetry={"metrics": True},
    )
    muxer = make_muxer([MINI], settings=settings)
    for i in range(5):
        await muxer.acomplete(f"{PROMPT} {i}")
    await asyncio.sleep(0.01)  # older than outbox_max_age_s

    report = muxer.health()

    database = _entry(report, "ledger")
    assert (database.backend, database.reachable) == ("postgresql", False)
    assert database.error is not None
    assert report.outbox is not None
    assert (report.outbox.records, report.outbox.records_estimated) == (5, False)
    assert report.outbox.bytes > 0
    assert report.outbox.segments >= 1
    assert report.outbox.directory == str(tmp_path / "outbox")
    assert report.status == "degraded"
    assert any("records wait in the outbox" in r for r in report.reasons)
    assert any("5 ledger records" in r for r in report.reasons)
    metrics = muxer.telemetry.metrics
    assert metrics is not None
    scraped = metrics.scrape().decode()
    assert f"modelmuxer_ledger_outbox_bytes {float(report.outbox.bytes)}" in scraped


def test_shared_state_breakers_are_metrics(make_muxer: MakeMuxer) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = load_settings(
        limits={
            "store": "redis",
            "redis_url": dead,
            "breaker_failures": 1,
            "limits": [{"scope": "global", "amount": 10, "window_s": 1}],
        },
        telemetry={"metrics": True},
    )
    muxer = make_muxer([MINI], settings=settings)
    metrics = muxer.telemetry.metrics
    assert metrics is not None
    assert 'modelmuxer_shared_state_breaker_state{component="limits"} 0.0' in (
        metrics.scrape().decode()
    )
    muxer.complete(PROMPT)  # admitted without the store (fail open); its breaker opens
    assert 'modelmuxer_shared_state_breaker_state{component="limits"} 2.0' in (
        metrics.scrape().decode()
    )
    report = muxer.health()
    assert _entry(report, "limits").breakers == {"limits": "open"}


def _config(tmp_path: Path, name: str, values: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"models": [MINI], "load_entrypoints": False, **values}))
    return str(path)


def test_the_cli_exit_code_says_ok_degraded_or_down(
    tmp_path: Path, redis_url: str, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    ok = _config(tmp_path, "ok", {**_stores(redis_url, namespace), "ledger": _ledger(tmp_path)})
    degraded = _config(
        tmp_path, "degraded", {"cache": {"enabled": True, "backend": "redis", "redis_url": dead}}
    )
    down = _config(
        tmp_path,
        "down",
        {
            "budgets": {
                "backend": dead,
                "on_unavailable": "closed",
                "budgets": [{"scope": "global", "limit_usd": 1}],
            }
        },
    )

    assert main(["health", "--config", ok, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "ok"
    assert data["redis"][0]["used_by"] == ["cache", "budgets", "limits"]
    assert {b["budget"] for b in data["budgets"]} == {"global/day", "org:acme/month"}
    assert not (tmp_path / "ledger.db").exists()  # a check migrates nothing, creates nothing

    assert main(["health", "--config", degraded]) == 1
    text = capsys.readouterr().out
    assert text.startswith("status: degraded")
    assert "the cache is bypassed" in text
    assert PASSWORD not in text

    assert main(["health", "--config", down, "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "down"
    assert "budgets refuses requests" in " ".join(data["reasons"])
    assert PASSWORD not in json.dumps(data)


def test_report_amounts_are_those_of_the_budget_state() -> None:
    from datetime import UTC, datetime

    from modelmuxer.budgets import Budget, BudgetState
    from modelmuxer.health.checker import _budget

    state = BudgetState(
        budget=Budget(scope="org", subject="acme", period="day", limit_usd=Decimal("2")),
        subject="acme",
        limit_usd=Decimal("2"),
        spent_usd=Decimal("1.5"),
        reserved_usd=Decimal("0.25"),
        resets_at=datetime(2030, 1, 2, tzinfo=UTC),
    )
    shown = _budget(state, "store")
    assert (shown.spent_usd, shown.reserved_usd, shown.remaining_usd) == (1.5, 0.25, 0.25)
    assert shown.used_pct == 75.0


WORKER = textwrap.dedent(
    """
    import sys
    from modelmuxer import Muxer
    from modelmuxer.config import load_settings

    settings = load_settings(
        telemetry={"metrics": True},
        ledger={"enabled": True, "url": sys.argv[1], "outbox_dir": sys.argv[2]},
        limits={
            "store": "redis",
            "redis_url": sys.argv[3],
            "breaker_failures": 1,
            "limits": [{"scope": "global", "amount": 100, "window_s": 1}],
        },
        load_entrypoints=False,
    )
    with Muxer(["offline/openai/gpt-4o-mini"], settings=settings) as muxer:
        for i in range(3):
            muxer.complete(f"Question number {i}?")
    """
)


@pytest.mark.slow
def test_in_multi_process_mode_each_worker_sets_the_operational_gauges(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    closed_db = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/ledger"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    outbox = tmp_path / "outbox"
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, closed_db, str(outbox), dead_redis],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(metrics_dir))
    waiting = merged.get_sample_value("modelmuxer_ledger_outbox_bytes", {})
    assert waiting is not None
    assert waiting > 0  # set at the end of the first request: its record waits in the outbox
    breaker = merged.get_sample_value(
        "modelmuxer_shared_state_breaker_state", {"component": "limits"}
    )
    assert breaker == 2.0  # the first admission opened the limits' breaker


def test_recent_calls_leave_the_window_as_time_passes() -> None:
    from modelmuxer.plugins import make_plugin_manager
    from modelmuxer.reliability import BreakerRegistry, BreakerSettings

    now = [1000.0]
    registry = BreakerRegistry(
        make_plugin_manager(load_entrypoints=False),
        BreakerSettings(failures=100),
        clock=lambda: now[0],
        stats_window_s=100.0,
    )
    registry.succeeded(MINI)
    registry.failed(MINI, "server_error")
    registry.failed(MINI, "bad_request")  # not a breaker failure, but a failed call
    now[0] += 50.0
    registry.succeeded(MINI)
    assert registry.recent(MINI) == (4, 2)
    now[0] += 60.0  # the first three are over 100 s old
    assert registry.recent(MINI) == (1, 0)
    now[0] += 100.0
    assert registry.recent(MINI) == (0, 0)
    assert registry.recent(FOUR_O) == (0, 0)
