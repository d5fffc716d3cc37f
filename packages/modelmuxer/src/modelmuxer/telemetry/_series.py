"""The hot metrics (model calls, tokens, cost, savings, call latency, decisions, escalations,
requests, request duration), counted per label key in plain numbers or in prometheus-client
objects.

A single process counts in plain numbers (:class:`LocalStore`, a collector rendering them at
scrape time): one lock and a few float additions per call, where a prometheus-client ``inc``
per metric takes a lock and checks its arguments each time. In multi-process mode the values
must reach prometheus-client's files, so the same sinks update its objects instead
(:class:`PromCallSink`, :class:`PromRequestSink`). Either way the families, their labels and
their values are the same.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from modelmuxer.telemetry.names import METRICS

__all__ = [
    "HOT",
    "LocalCallSink",
    "LocalRequestSink",
    "LocalStore",
    "PromCallSink",
    "PromRequestSink",
]

#: the families counted by the sinks of this module
HOT: Final = frozenset(
    {
        "modelmuxer_model_calls",
        "modelmuxer_tokens",
        "modelmuxer_cost_usd",
        "modelmuxer_cost_if_strongest_usd",
        "modelmuxer_model_call_duration_seconds",
        "modelmuxer_routing_decisions",
        "modelmuxer_cascade_escalations",
        "modelmuxer_requests",
        "modelmuxer_request_duration_seconds",
    }
)
_HELP: Final = {spec.name: spec.help for spec in METRICS}
_BY_MODEL: Final = ("model", "provider")
_BY_STRATEGY: Final = ("strategy",)


class PromCallSink:
    """The prometheus-client children one call key updates (multi-process mode)."""

    __slots__ = (
        "_calls",
        "_cost",
        "_decisions",
        "_duration",
        "_escalations",
        "_in",
        "_out",
        "_strongest",
    )

    def __init__(self, families: Mapping[str, Counter | Histogram], key: Sequence[str]) -> None:
        model, provider, strategy, outcome, *identity = key
        tokens = _counter(families, "modelmuxer_tokens")
        self._calls = _counter(families, "modelmuxer_model_calls").labels(
            model, provider, strategy, outcome
        )
        self._in = tokens.labels(model, provider, "input", *identity)
        self._out = tokens.labels(model, provider, "output", *identity)
        self._cost = _counter(families, "modelmuxer_cost_usd").labels(
            model, provider, strategy, *identity
        )
        self._strongest = _counter(families, "modelmuxer_cost_if_strongest_usd").labels(strategy)
        duration = families["modelmuxer_model_call_duration_seconds"]
        assert isinstance(duration, Histogram)
        self._duration = duration.labels(model, provider)
        self._decisions = _counter(families, "modelmuxer_routing_decisions").labels(strategy, model)
        escalations = _counter(families, "modelmuxer_cascade_escalations")
        self._escalations = escalations.labels(strategy, model) if outcome == "escalated" else None

    def add(
        self,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        if_strongest: float,
        first: bool,
        latency: float,
    ) -> None:
        """Count one call."""
        self._calls.inc()
        if input_tokens:
            self._in.inc(input_tokens)
        if output_tokens:
            self._out.inc(output_tokens)
        if cost:
            self._cost.inc(cost)
        if if_strongest:
            self._strongest.inc(if_strongest)
        if first:
            self._decisions.inc()
        if self._escalations is not None:
            self._escalations.inc()
        self._duration.observe(latency)


class PromRequestSink:
    """The prometheus-client children one request key updates (multi-process mode)."""

    __slots__ = ("_duration", "_requests")

    def __init__(self, families: Mapping[str, Counter | Histogram], key: Sequence[str]) -> None:
        self._requests = _counter(families, "modelmuxer_requests").labels(*key)
        duration = families["modelmuxer_request_duration_seconds"]
        assert isinstance(duration, Histogram)
        self._duration = duration.labels(key[0])

    def add(self, latency: float) -> None:
        """Count one request."""
        self._requests.inc()
        self._duration.observe(latency)


def _counter(families: Mapping[str, Counter | Histogram], name: str) -> Counter:
    family = families[name]
    assert isinstance(family, Counter)
    return family


class LocalCallSink:
    """One call key's numbers (single process)."""

    __slots__ = (
        "_bounds",
        "_lock",
        "buckets",
        "calls",
        "cost",
        "created",
        "decisions",
        "duration",
        "if_strongest",
        "input_tokens",
        "output_tokens",
    )

    def __init__(self, lock: threading.Lock, bounds: Sequence[float]) -> None:
        self._lock = lock
        self._bounds = bounds
        self.calls = self.input_tokens = self.output_tokens = 0.0
        self.cost = self.if_strongest = self.decisions = self.duration = 0.0
        self.buckets = [0.0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is +Inf
        self.created = time.time()

    def add(
        self,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        if_strongest: float,
        first: bool,
        latency: float,
    ) -> None:
        """Count one call."""
        bucket = bisect_left(self._bounds, latency)  # the first bound >= latency: "le"
        with self._lock:
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cost += cost
            self.if_strongest += if_strongest
            self.decisions += first
            self.duration += latency
            self.buckets[bucket] += 1


class LocalRequestSink:
    """One request key's numbers (single process)."""

    __slots__ = ("_bounds", "_lock", "buckets", "created", "duration", "requests")

    def __init__(self, lock: threading.Lock, bounds: Sequence[float]) -> None:
        self._lock = lock
        self._bounds = bounds
        self.requests = self.duration = 0.0
        self.buckets = [0.0] * (len(bounds) + 1)
        self.created = time.time()

    def add(self, latency: float) -> None:
        """Count one request."""
        bucket = bisect_left(self._bounds, latency)
        with self._lock:
            self.requests += 1
            self.duration += latency
            self.buckets[bucket] += 1


class _Hist:
    """A histogram series being summed from several keys at scrape time."""

    __slots__ = ("buckets", "created", "total")

    def __init__(self, size: int, created: float) -> None:
        self.buckets = [0.0] * size
        self.total = 0.0
        self.created = created

    def add(self, buckets: Sequence[float], total: float, created: float) -> None:
        for i, count in enumerate(buckets):
            self.buckets[i] += count
        self.total += total
        self.created = min(self.created, created)


class LocalStore:
    """The hot metrics of one registry in plain numbers; a collector rendering them.

    Call keys are ``(model, provider, strategy, outcome, *identity)``, request keys
    ``(strategy, model, provider, outcome, *identity)``; families with fewer labels sum their
    keys at scrape time.
    """

    def __init__(self, identity_labels: Sequence[str], bounds: Sequence[float]) -> None:
        self._identity = tuple(identity_labels)
        self._bounds = tuple(bounds)
        # "le" as prometheus-client writes it (1.0, 0.005), so both modes show the same series
        self._le = [floatToGoString(b) for b in bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, ...], LocalCallSink] = {}
        self._requests: dict[tuple[str, ...], LocalRequestSink] = {}

    def call_sink(self, key: tuple[str, ...]) -> LocalCallSink:
        """The numbers of call key ``key`` (made on first use)."""
        with self._lock:
            sink = self._calls.get(key)
            if sink is None:
                sink = self._calls[key] = LocalCallSink(self._lock, self._bounds)
            return sink

    def request_sink(self, key: tuple[str, ...]) -> LocalRequestSink:
        """The numbers of request key ``key`` (made on first use)."""
        with self._lock:
            sink = self._requests.get(key)
            if sink is None:
                sink = self._requests[key] = LocalRequestSink(self._lock, self._bounds)
            return sink

    def describe(self) -> Iterator[Metric]:
        return iter(self._families().values())

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # a consistent snapshot; rendering happens outside the lock
            calls = [
                (
                    key,
                    (s.calls, s.input_tokens, s.output_tokens, s.cost, s.if_strongest),
                    s.decisions,
                    list(s.buckets),
                    s.duration,
                    s.created,
                )
                for key, s in self._calls.items()
            ]
            requests = [
                (key, s.requests, list(s.buckets), s.duration, s.created)
                for key, s in self._requests.items()
            ]
        families = self._families()
        counters: dict[str, dict[tuple[str, ...], list[float]]] = {name: {} for name in families}
        durations: dict[tuple[str, ...], _Hist] = {}
        for key, (n, tin, tout, cost, strongest), first, buckets, total, created in calls:
            model, provider, strategy, outcome, *identity = key
            ident = tuple(identity)
            _sum(
                counters["modelmuxer_model_calls"], (model, provider, strategy, outcome), n, created
            )
            _sum(counters["modelmuxer_tokens"], (model, provider, "input", *ident), tin, created)
            _sum(counters["modelmuxer_tokens"], (model, provider, "output", *ident), tout, created)
            _sum(
                counters["modelmuxer_cost_usd"], (model, provider, strategy, *ident), cost, created
            )
            _sum(counters["modelmuxer_cost_if_strongest_usd"], (strategy,), strongest, created)
            _sum(counters["modelmuxer_routing_decisions"], (strategy, model), first, created)
            if outcome == "escalated":
                _sum(counters["modelmuxer_cascade_escalations"], (strategy, model), n, created)
            hist = durations.setdefault((model, provider), _Hist(len(buckets), created))
            hist.add(buckets, total, created)
        request_durations: dict[tuple[str, ...], _Hist] = {}
        for key, n, buckets, total, created in requests:
            _sum(counters["modelmuxer_requests"], key, n, created)
            hist = request_durations.setdefault((key[0],), _Hist(len(buckets), created))
            hist.add(buckets, total, created)
        for name, family in families.items():
            if isinstance(family, CounterMetricFamily):
                for labels, (value, created) in counters[name].items():
                    family.add_metric(labels, value, created=created)
        self._render(families["modelmuxer_model_call_duration_seconds"], _BY_MODEL, durations)
        self._render(
            families["modelmuxer_request_duration_seconds"], _BY_STRATEGY, request_durations
        )
        return iter(families.values())

    def _render(
        self, family: Metric, labelnames: Sequence[str], series: Mapping[tuple[str, ...], _Hist]
    ) -> None:
        assert isinstance(family, HistogramMetricFamily)
        for labels, hist in series.items():
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for le, count in zip(self._le, hist.buckets, strict=True):
                running += count
                cumulative.append((le, running))
            family.add_metric(labels, cumulative, hist.total)
            created = dict(zip(labelnames, labels, strict=True))
            family.samples.append(Sample(family.name + "_created", created, hist.created))

    def _families(self) -> dict[str, Metric]:
        ident = list(self._identity)

        def counter(name: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, _HELP[name], labels=labels)

        def histogram(name: str, labels: list[str]) -> HistogramMetricFamily:
            return HistogramMetricFamily(name, _HELP[name], labels=labels)

        return {
            "modelmuxer_requests": counter(
                "modelmuxer_requests", ["strategy", "model", "provider", "outcome", *ident]
            ),
            "modelmuxer_request_duration_seconds": histogram(
                "modelmuxer_request_duration_seconds", list(_BY_STRATEGY)
            ),
            "modelmuxer_model_calls": counter(
                "modelmuxer_model_calls", ["model", "provider", "strategy", "outcome"]
            ),
            "modelmuxer_tokens": counter(
                "modelmuxer_tokens", ["model", "provider", "type", *ident]
            ),
            "modelmuxer_cost_usd": counter(
                "modelmuxer_cost_usd", ["model", "provider", "strategy", *ident]
            ),
            "modelmuxer_cost_if_strongest_usd": counter(
                "modelmuxer_cost_if_strongest_usd", ["strategy"]
            ),
            "modelmuxer_model_call_duration_seconds": histogram(
                "modelmuxer_model_call_duration_seconds", list(_BY_MODEL)
            ),
            "modelmuxer_routing_decisions": counter(
                "modelmuxer_routing_decisions", ["strategy", "model"]
            ),
            "modelmuxer_cascade_escalations": counter(
                "modelmuxer_cascade_escalations", ["strategy", "model"]
            ),
        }


def _sum(
    series: dict[tuple[str, ...], list[float]],
    labels: tuple[str, ...],
    value: float,
    created: float,
) -> None:
    found = series.get(labels)
    if found is None:
        series[labels] = [value, created]
    else:
        found[0] += value
        found[1] = min(found[1], created)
