"""Budget gauges: where each budget stands, as its guard last saw it (no I/O at scrape time).

A single process exposes them through :class:`BudgetCollector`, read at scrape time. In
multi-process mode a collector of a worker is never scraped (the exporter reads the workers'
files), so each worker sets :class:`BudgetGauges` at the end of a request instead, at most every
``budget_refresh_s``.

Only budgets that name their subject, and global ones, are exposed: a ``*`` budget has one
counter per user / org / project, which would make one series each.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from modelmuxer.budgets.model import EACH, BudgetState
from modelmuxer.telemetry.names import METRICS
from modelmuxer.types import Identity

if TYPE_CHECKING:
    from modelmuxer.budgets import BudgetGuard

__all__ = ["BudgetCollector", "BudgetGauges", "budget_states"]

#: (name, help) of the budget gauges, in the order of :func:`_values`
_GAUGES = tuple(
    (spec.name, spec.help)
    for suffix in ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd", "used_ratio")
    for spec in METRICS
    if spec.name == f"modelmuxer_budget_{suffix}"
)


def budget_states(guards: Iterable[BudgetGuard]) -> dict[str, BudgetState]:
    """Budget name -> its state as last seen by ``guards`` (the first guard naming it wins)."""
    states: dict[str, BudgetState] = {}
    for guard in guards:
        for budget in guard.budgets:
            if budget.subject == EACH or budget.name in states:
                continue
            who = (
                Identity() if budget.subject is None else Identity(**{budget.scope: budget.subject})
            )
            for state in guard.last_seen(who):
                if state.budget.name == budget.name:
                    states[budget.name] = state
    return states


def _values(state: BudgetState) -> tuple[float, float, float, float, float]:
    limit, spent = state.limit_usd, state.spent_usd
    return (
        float(limit),
        float(spent),
        float(state.reserved_usd),
        float(state.remaining_usd),
        float(spent / limit) if limit > 0 else 1.0,
    )


class _Guards:
    """The guards whose budgets a registry exposes (weakly held: a muxer may be dropped)."""

    def __init__(self) -> None:
        self._guards: weakref.WeakSet[BudgetGuard] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, guard: BudgetGuard) -> None:
        with self._lock:
            self._guards.add(guard)

    def discard(self, guard: BudgetGuard) -> None:
        with self._lock:
            self._guards.discard(guard)

    def states(self) -> dict[str, BudgetState]:
        with self._lock:
            guards = list(self._guards)
        return budget_states(guards)


class BudgetCollector(_Guards):
    """A Prometheus collector reading the budgets of its guards at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        for name, state in sorted(self.states().items()):
            for family, value in zip(families, _values(state), strict=True):
                family.add_metric([name], value)
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, text, labels=["budget"]) for name, text in _GAUGES]


class BudgetGauges(_Guards):
    """The budget gauges of multi-process mode: set by :meth:`refresh` in each worker; a scrape
    shows, per budget, the value most recently set by a live worker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._gauges = [
            Gauge(
                name,
                text,
                ["budget"],
                registry=registry,
                multiprocess_mode="livemostrecent",
            )
            for name, text in _GAUGES
        ]

    def refresh(self) -> None:
        """Set every gauge from the guards' last-seen usage."""
        for name, state in self.states().items():
            for gauge, value in zip(self._gauges, _values(state), strict=True):
                gauge.labels(name).set(value)
