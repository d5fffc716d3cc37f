"""Operational gauges read from the muxers' health checkers: the ledger's outbox backlog and
each component's circuit breaker on its shared store (cache, budgets, limits).

As for the budget gauges (``_budgets.py``): a single process reads them at scrape time
(:class:`OpsCollector`); in multi-process mode each worker sets :class:`OpsGauges` at the end of
a request, at most every ``budget_refresh_s``, and a scrape shows the largest value of a live
worker (workers of one machine share the outbox directory, so each sees the same backlog).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from modelmuxer.telemetry.names import METRICS, PREFIX

if TYPE_CHECKING:
    from modelmuxer.health.checker import LocalGauges

__all__ = ["OpsCollector", "OpsGauges", "OpsSource"]

_log = logging.getLogger("modelmuxer.telemetry")
_OUTBOX = PREFIX + "ledger_outbox_bytes"
_BREAKERS = PREFIX + "shared_state_breaker_state"
_HELP = {spec.name: spec.help for spec in METRICS}
_STATE = {"closed": 0.0, "half-open": 1.0, "open": 2.0}


class OpsSource(Protocol):
    """What the gauges are read from (a muxer's :class:`~modelmuxer.health.HealthChecker`)."""

    def local_gauges(self) -> LocalGauges:
        """The values now, without I/O beyond listing a directory."""
        ...


class _Sources:
    """The sources a registry exposes (weakly held: a muxer may be dropped)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[OpsSource] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, source: OpsSource) -> None:
        with self._lock:
            self._sources.add(source)

    def discard(self, source: OpsSource) -> None:
        with self._lock:
            self._sources.discard(source)

    def values(self) -> tuple[float | None, dict[str, float]]:
        """The outbox bytes (the largest any source sees; ``None``: no ledger) and the worst
        breaker state per component."""
        with self._lock:
            sources = list(self._sources)
        outbox: float | None = None
        breakers: dict[str, float] = {}
        for source in sources:
            try:
                gauges = source.local_gauges()
            except Exception:  # a scrape must not fail: this source's values are left out
                _log.exception("metrics: cannot read the operational gauges")
                continue
            if gauges.outbox_bytes is not None:
                outbox = max(outbox or 0.0, float(gauges.outbox_bytes))
            for component, state in gauges.shared_state.items():
                breakers[component] = max(breakers.get(component, 0.0), _STATE[state])
        return outbox, breakers


class OpsCollector(_Sources):
    """A Prometheus collector reading its sources at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox_family, breaker_family = families = self._families()
        outbox, breakers = self.values()
        if outbox is not None:
            outbox_family.add_metric([], outbox)
        for component, value in sorted(breakers.items()):
            breaker_family.add_metric([component], value)
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(_OUTBOX, _HELP[_OUTBOX]),
            GaugeMetricFamily(_BREAKERS, _HELP[_BREAKERS], labels=["component"]),
        ]


class OpsGauges(_Sources):
    """The gauges of multi-process mode, set by :meth:`refresh` in each worker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._outbox = Gauge(
            _OUTBOX, _HELP[_OUTBOX], registry=registry, multiprocess_mode="livemax"
        )
        self._breakers = Gauge(
            _BREAKERS,
            _HELP[_BREAKERS],
            ["component"],
            registry=registry,
            multiprocess_mode="livemax",
        )

    def refresh(self) -> None:
        """Set the gauges from the sources now."""
        outbox, breakers = self.values()
        if outbox is not None:
            self._outbox.set(outbox)
        for component, value in breakers.items():
            self._breakers.labels(component).set(value)
