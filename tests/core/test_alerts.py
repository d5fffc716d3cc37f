"""Alerts: budget thresholds and spend spikes as events and metrics, deduplicated across
processes on Redis; and the Prometheus rules in ``docs/`` name only metrics that exist."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from _support import MakeMuxer
from prometheus_client import CollectorRegistry

from modelmuxer import hookimpl
from modelmuxer.alerts import Alerts, AlertSettings
from modelmuxer.budgets import Budget, BudgetGuard, MemoryBudgetStore
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.errors import ConfigError
from modelmuxer.events import EVENT_NAMES
from modelmuxer.plugins import make_plugin_manager
from modelmuxer.telemetry import MetricsPlugin, TelemetrySettings
from modelmuxer.types import CallRecord, Identity, Usage

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus-alerts.yml"
METRIC = re.compile(r"\bmodelmuxer_[a-z_]+\b")
MINI = "offline/openai/gpt-4o-mini"
DAY = 86_400.0
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Events:
    """Collects the alert events."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(self, name: str, ctx: RequestContext | None, data: Any) -> None:
        if name in ("budget.threshold", "spend.spike"):
            self.seen.append((name, dict(data)))

    def thresholds(self) -> list[tuple[str, str, float]]:
        return [
            (d["budget"], d["subject"], d["threshold"])
            for name, d in self.seen
            if name == "budget.threshold"
        ]


def _record(org: str = "acme", cost: float = 0.0, cache: str = "off") -> CallRecord:
    return CallRecord(
        request_id=uuid.uuid4().hex,
        attempt=0,
        started_at=datetime.now(UTC),
        identity=Identity(org=org),
        tags=frozenset(),
        strategy="hybrid",
        model=MINI,
        provider="openai",
        usage=Usage(prompt_tokens=10, completion_tokens=10),
        cost_usd=cost,
        latency_s=0.01,
        outcome="ok",
        reason="test",
        cache=cache,  # type: ignore[arg-type]
    )


def _metric(metrics: MetricsPlugin, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


class Rig:
    """A guard on a fake clock, the alerts, a listener and the metrics on one plugin manager."""

    def __init__(self, settings: AlertSettings, budgets: list[Budget]) -> None:
        self.clock = Clock(1_900_000_000.0)  # 2030-03-17, 17:46 UTC
        self.guard = BudgetGuard(MemoryBudgetStore(clock=self.clock), budgets, clock=self.clock)
        self.events = Events()
        self.metrics = MetricsPlugin(TelemetrySettings(metrics=True), registry=CollectorRegistry())
        self.pm = make_plugin_manager([self.events, self.metrics], load_entrypoints=False)
        self.alerts = Alerts(settings, self.pm, budgets=self.guard, clock=self.clock)

    async def spend(self, org: str, usd: str) -> None:
        """Charge ``usd`` to ``org``'s budgets, then tell the alerts (as a call would)."""
        reservation = await self.guard.reserve(Identity(org=org), MINI, Decimal(usd))
        await self.guard.settle(reservation, Decimal(usd))
        self.alerts.modelmuxer_record(_record(org, float(usd)))


async def test_each_threshold_fires_once_per_budget_subject_and_window() -> None:
    rig = Rig(
        AlertSettings(spike_min_usd=1e9),
        [Budget(scope="org", subject="*", period="day", limit_usd=Decimal(10))],
    )
    await rig.spend("acme", "4")  # 40 %
    assert rig.events.thresholds() == []
    await rig.spend("acme", "1.5")  # 55 %
    assert rig.events.thresholds() == [("org:*/day", "acme", 0.5)]
    await rig.spend("acme", "0.5")  # 60 %: 0.5 was told already
    rig.alerts.modelmuxer_record(_record("acme"))
    assert len(rig.events.thresholds()) == 1
    await rig.spend("acme", "4")  # 100 %: 0.8 and 1.0 at once
    assert rig.events.thresholds()[1:] == [("org:*/day", "acme", 0.8), ("org:*/day", "acme", 1.0)]
    await rig.spend("beta", "9")  # another subject has its own thresholds
    assert rig.events.thresholds()[3:] == [("org:*/day", "beta", 0.5), ("org:*/day", "beta", 0.8)]
    _name, data = rig.events.seen[1]
    assert data == {
        "budget": "org:*/day",
        "subject": "acme",
        "threshold": 0.8,
        "spent_usd": 10.0,
        "limit_usd": 10.0,
        "resets_at": "2030-03-18T00:00:00+00:00",
    }

    rig.clock.now += DAY  # the next day's window starts from nothing
    await rig.spend("acme", "6")
    assert rig.events.thresholds()[5:] == [("org:*/day", "acme", 0.5)]
    assert set(EVENT_NAMES) >= {"budget.threshold", "spend.spike"}

    def counted(threshold: str) -> float:
        labels = {"budget": "org:*/day", "threshold": threshold}
        return _metric(rig.metrics, "modelmuxer_budget_threshold_events_total", labels)

    assert (counted("0.5"), counted("0.8"), counted("1")) == (3.0, 2.0, 1.0)


async def test_cache_hits_and_zero_budgets_raise_nothing() -> None:
    rig = Rig(
        AlertSettings(spike_min_usd=1e9),
        [
            Budget(scope="org", subject="acme", period="day", limit_usd=Decimal(1)),
            Budget(scope="global", period="day", limit_usd=Decimal(0)),
        ],
    )
    (line,) = [x for x in rig.guard.lines(Identity(org="acme")) if x.budget.scope == "org"]
    reservation = await rig.guard.store.reserve("other", [line.counter], Decimal("0.9"), 60.0)
    await rig.guard.store.settle(reservation, Decimal("0.9"))  # another process spent 90 %
    await rig.guard.states(Identity(org="acme"))  # and this guard has seen it
    rig.alerts.modelmuxer_record(_record("acme", cache="exact"))
    assert rig.events.thresholds() == []  # a cache hit reserved nothing: not looked at
    rig.alerts.modelmuxer_record(_record("acme"))
    assert rig.events.thresholds() == [("org:acme/day", "acme", 0.5), ("org:acme/day", "acme", 0.8)]


async def test_a_spend_spike_fires_once_per_window_after_a_baseline() -> None:
    settings = AlertSettings(
        budget_thresholds=(1.0,),
        spike_window_s=60.0,
        spike_baseline_windows=3,
        spike_factor=3.0,
        spike_min_usd=1.0,
    )
    rig = Rig(settings, [])
    start = rig.clock.now - rig.clock.now % 60.0
    rig.clock.now = start + 1.0
    rig.alerts = Alerts(settings, rig.pm, budgets=None, clock=rig.clock)

    def spend(usd: float) -> None:
        rig.alerts.modelmuxer_record(_record(cost=usd))

    for window in range(3):  # no baseline yet: even a big first window is no spike
        rig.clock.now = start + 60.0 * window + 1.0
        spend(5.0 if window == 0 else 1.0)
    assert rig.events.seen == []

    rig.clock.now = start + 180.0 + 1.0  # baseline (5 + 1 + 1) / 3 = 2.33
    spend(6.0)
    assert rig.events.seen == []  # 6 <= 3 x 2.33
    spend(1.5)  # 7.5 > 7
    spend(10.0)  # the same window: told once
    assert rig.events.seen == [
        (
            "spend.spike",
            {"window_s": 60.0, "spend_usd": 7.5, "baseline_usd": 2.333333333, "factor": 3.0},
        )
    ]

    rig.clock.now = start + 240.0 + 1.0  # baseline (1 + 1 + 17.5) / 3 = 6.5
    spend(19.0)
    assert len(rig.events.seen) == 1
    spend(0.6)  # 19.6 > 19.5
    assert len(rig.events.seen) == 2
    assert _metric(rig.metrics, "modelmuxer_spend_spike_events_total") == 2.0

    rig.clock.now = start + 600.0 + 1.0  # quiet windows since: a small window is no spike
    spend(0.9)
    assert len(rig.events.seen) == 2  # below spike_min_usd


async def test_a_muxer_with_budgets_raises_threshold_events_to_its_plugins(
    make_muxer: MakeMuxer,
) -> None:
    events = Events()
    budgets = {"budgets": [{"scope": "org", "subject": "acme", "limit_usd": "0.0002"}]}
    settings = load_settings(
        budgets=budgets, alerts={"budget_thresholds": [0.01, 0.02], "spike_min_usd": 1e6}
    )
    muxer = make_muxer([MINI], settings=settings, plugins=[events])
    assert muxer.alerts is not None
    for i in range(3):
        done = await muxer.acomplete(f"Name a colour. {i}", identity={"org": "acme"}, max_tokens=5)
        assert done.cost_usd > 0
    assert [t for _, _, t in events.thresholds()] == [0.01, 0.02]
    assert {s for _, s, _ in events.thresholds()} == {"acme"}

    without = make_muxer([MINI])
    assert without.alerts is None  # no budgets: off unless alerts.enabled
    forced = make_muxer([MINI], settings=load_settings(alerts={"enabled": True}))
    assert forced.alerts is not None


def test_thresholds_are_fractions() -> None:
    assert AlertSettings(budget_thresholds=(1.0, 0.5, 0.5)).budget_thresholds == (0.5, 1.0)
    with pytest.raises(ConfigError, match="budget_thresholds"):
        load_settings(alerts={"budget_thresholds": [80]})


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = f"mmtest-alerts-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


async def test_on_redis_a_threshold_fires_once_across_processes(
    redis_url: str, namespace: str
) -> None:
    budget = Budget(scope="global", period="day", limit_usd=Decimal(10))
    settings = AlertSettings(spike_min_usd=1e9)
    first, second = Rig(settings, [budget]), Rig(settings, [budget])
    for rig in (first, second):  # two processes: their own guards and alerts, one Redis
        rig.alerts = Alerts(
            settings, rig.pm, budgets=rig.guard, redis_url=redis_url, namespace=namespace
        )
    try:
        await first.spend("acme", "6")
        first.alerts.flush()
        await second.spend("acme", "6")  # its guard sees 60 % too: the claim is taken
        second.alerts.flush()
        assert first.events.thresholds() == [("global/day", "global", 0.5)]
        assert second.events.thresholds() == []
        await second.spend("acme", "3")  # 90 % in the second process only: it claims 0.8
        second.alerts.flush()
        assert second.events.thresholds() == [("global/day", "global", 0.8)]
        client = redis.Redis.from_url(redis_url)
        keys = sorted(k.decode() for k in client.scan_iter(match=f"{namespace}:*"))
        ttl = client.ttl(keys[0])
        client.close()
        assert keys == [
            f"{namespace}:threshold:global/day:global:2030-03-18T00:00:00+00:00:{t}"
            for t in ("0.5", "0.8")
        ]
        assert ttl > 0  # forgotten a day after the window
    finally:
        first.alerts.close()
        second.alerts.close()


def _registry_names() -> set[str]:
    registry = CollectorRegistry()
    MetricsPlugin(TelemetrySettings(metrics=True), registry=registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    }


def test_the_alerting_rules_name_only_metrics_that_exist() -> None:
    rules = [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    exposed = _registry_names()
    used: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        names = set(METRIC.findall(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exposed, (rule["alert"], sorted(names - exposed))
        used |= names
    alerts = {rule["alert"] for rule in rules}
    assert len(alerts) == len(rules)
    for needed in (
        "modelmuxer_budget_used_ratio",
        "modelmuxer_budget_threshold_events_total",
        "modelmuxer_spend_spike_events_total",
        "modelmuxer_breaker_state",
        "modelmuxer_model_calls_total",
        "modelmuxer_shared_state_breaker_state",
        "modelmuxer_shared_state_unavailable_total",
        "modelmuxer_ledger_outbox_bytes",
        "modelmuxer_ratelimit_rejections_total",
    ):
        assert needed in used, needed
