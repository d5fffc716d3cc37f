"""The observability docs and the Grafana dashboard name only metrics the registry exposes, and
the docs list every metric and setting."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from modelmuxer import hookspecs
from modelmuxer.telemetry import METRICS, MetricsPlugin, TelemetrySettings
from modelmuxer.telemetry.names import exposed_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "modelmuxer-dashboard.json"
PAGE = ROOT / "docs" / "observability.md"
METRIC = re.compile(r"\bmodelmuxer_[a-z_]+\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def _registry_names() -> set[str]:
    """Every sample name the metrics registry can expose, from the live registry."""
    registry = CollectorRegistry()
    MetricsPlugin(TelemetrySettings(metrics=True), registry=registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    }


def _exprs(node: Any) -> list[str]:
    """Every PromQL expression and template query in a dashboard (any depth)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_exprs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_exprs(item))
    return found


def test_the_registry_exposes_what_the_catalog_says() -> None:
    assert _registry_names() == exposed_names()


def test_the_dashboard_names_only_exposed_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = _exprs(dashboard)
    assert len(exprs) >= 30
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used, "the dashboard queries no ModelMuxer metric"
    assert used <= _registry_names(), sorted(used - _registry_names())
    every_family = {spec.name for spec in METRICS}
    used_families = {n for n in every_family if any(u.startswith(n) for u in used)}
    assert len(used_families) >= len(every_family) - 2  # nearly every metric is on a panel


def test_the_dashboard_is_a_grafana_dashboard_with_the_panels_operators_need() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "modelmuxer"
    assert isinstance(dashboard["schemaVersion"], int)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
    titles = " | ".join(p["title"].lower() for p in panels)
    for topic in (
        "spend by model",
        "saved by routing",
        "saved by the cache",
        "routing decisions",
        "latency p50 / p95",
        "time to first token",
        "error",
        "cache hit ratio",
        "budget remaining",
        "rate-limit",
        "circuit breaker",
    ):
        assert topic in titles, topic


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.name)
def test_the_docs_list_every_metric_with_its_labels(spec: Any) -> None:
    page = PAGE.read_text()
    shown = spec.name + ("_total" if spec.kind == "counter" else "")
    (row,) = [line for line in page.splitlines() if line.startswith(f"| `{shown}` |")]
    assert f"| {spec.kind} |" in row
    for label in spec.labels:
        assert f"`{label}`" in row, (shown, label)


def test_the_docs_name_only_exposed_metrics() -> None:
    names = set(METRIC.findall(PAGE.read_text()))
    hooks = {name for name in dir(hookspecs) if name.startswith("modelmuxer_")}
    families = {spec.name for spec in METRICS}  # a histogram by its family name
    known = _registry_names() | families | hooks
    assert names <= known, sorted(names - known)


def test_the_docs_list_every_setting() -> None:
    page = PAGE.read_text()
    for name in TelemetrySettings.model_fields:
        assert f"| `{name}` |" in page, name
