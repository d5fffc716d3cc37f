"""Prometheus metrics: a plugin counting call records, finished requests and operational events.

:class:`MetricsPlugin` is what ``muxer.telemetry.metrics`` is. The metric families themselves
(:data:`~modelmuxer.telemetry.names.METRICS`) are built once per registry by
:class:`MetricSet`, so every muxer of a process can share ``prometheus_client.REGISTRY``
without registering a name twice.

The hot path resolves label values once: the counters of each (model, provider, strategy,
outcome) key are found in a dict, not through ``labels()`` on every call, and in a single
process they are plain numbers rendered at scrape time (see ``_series.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

from modelmuxer.errors import ConfigError
from modelmuxer.hookspecs import hookimpl
from modelmuxer.telemetry._budgets import BudgetCollector, BudgetGauges
from modelmuxer.telemetry._ops import OpsCollector, OpsGauges
from modelmuxer.telemetry._series import (
    HOT,
    LocalCallSink,
    LocalRequestSink,
    LocalStore,
    PromCallSink,
    PromRequestSink,
)
from modelmuxer.telemetry.names import METRICS, OPS_GAUGES
from modelmuxer.telemetry.settings import TelemetrySettings
from modelmuxer.types import CallRecord, Completion, Identity, ModelCard

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from modelmuxer.budgets import BudgetGuard
    from modelmuxer.context import RequestContext
    from modelmuxer.telemetry._ops import OpsSource

__all__ = ["MetricSet", "MetricsPlugin", "multiprocess_dir"]

_log = logging.getLogger("modelmuxer.telemetry")
#: distinct values kept per label of an event metric before the rest become "other"
_EVENT_LABEL_LIMIT = 200
_BREAKER = {"breaker.opened": 2.0, "breaker.half_open": 1.0, "breaker.closed": 0.0}
_HIT = frozenset({"exact", "semantic"})
_Metric = Counter | Gauge | Histogram
_MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multi-process mode, when it is on (the variable
    prometheus-client reads, or its deprecated lower-case name, as prometheus-client does)."""
    return next((os.environ[name] for name in _MULTIPROC_ENV if os.environ.get(name)), None)


class MetricSet:
    """The metric families of one registry, shared by every muxer that uses the registry.

    Get it with :meth:`of`: a registry can hold each name once, so the families are built on
    first use and found again afterwards.
    """

    # Families are kept beside their registry, keyed weakly, so a dropped private registry takes
    # its families with it (a set holds no strong reference to its registry, or it never would).
    _sets: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, MetricSet]] = (
        weakref.WeakKeyDictionary()
    )
    _sets_lock: ClassVar[threading.Lock] = threading.Lock()
    #: multi-process mode: the registry of the one set every muxer of the process counts in
    _process_registry: ClassVar[CollectorRegistry | None] = None

    def __init__(self, registry: CollectorRegistry, settings: TelemetrySettings) -> None:
        self._registry = weakref.ref(registry)
        self.identity_labels = settings.identity_labels
        self.identity_label_limit = settings.identity_label_limit
        self.buckets = settings.latency_buckets
        self.multiprocess = multiprocess_dir() is not None
        #: the hot metrics in plain numbers (``None`` in multi-process mode: see _series.py)
        self.local = None if self.multiprocess else LocalStore(self.identity_labels, self.buckets)
        self.families: dict[str, _Metric] = {}
        try:
            self._build(registry)
        except ValueError as exc:  # a name already registered by something else
            for collector in [*self.families.values(), *([self.local] if self.local else [])]:
                registry.unregister(collector)
            raise ConfigError(
                f"cannot register ModelMuxer's metrics: {exc}. Use telemetry.metrics_registry="
                "'muxer' (a registry of the muxer's own) or pass another registry"
            ) from exc
        self.budgets: BudgetCollector | BudgetGauges
        if self.multiprocess:
            self.budgets = BudgetGauges(registry)
        else:
            self.budgets = BudgetCollector()
            registry.register(self.budgets)
        self.ops: OpsCollector | OpsGauges
        if self.multiprocess:
            self.ops = OpsGauges(registry)
        else:
            self.ops = OpsCollector()
            registry.register(self.ops)
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        self._servers: dict[tuple[str, int], WSGIServer] = {}
        self._users = 0

    @classmethod
    def of(cls, registry: CollectorRegistry, settings: TelemetrySettings) -> MetricSet:
        """The families of ``registry``, built now if they were not yet.

        In multi-process mode every muxer of the process gets the same set, whatever registry
        it was given: values live in the process's files, one per series, and two metric
        objects for one series would each write their own total over the other's. A scrape
        reads the files (:meth:`exposed`), so which registry the families sit in is moot.

        :raises ConfigError: the set is shared and built with other identity labels or
            latency buckets.
        """
        with cls._sets_lock:
            if multiprocess_dir() is not None:
                if cls._process_registry is None:
                    cls._process_registry = registry
                registry = cls._process_registry
            found = cls._sets.get(registry)
            if found is None:
                found = cls._sets[registry] = cls(registry, settings)
            elif (found.identity_labels, found.buckets) != (
                settings.identity_labels,
                settings.latency_buckets,
            ):
                raise ConfigError(
                    "muxers sharing a metrics registry must agree on telemetry.identity_labels "
                    "and telemetry.latency_buckets; give this muxer its own registry "
                    "(telemetry.metrics_registry='muxer')"
                    if found.local is not None
                    else "in multi-process mode (PROMETHEUS_MULTIPROC_DIR) every muxer of a "
                    "process counts in the same metrics, so they must agree on "
                    "telemetry.identity_labels and telemetry.latency_buckets"
                )
            found._users += 1
            return found

    def _build(self, registry: CollectorRegistry) -> None:
        if self.local is not None:
            registry.register(self.local)
        for spec in METRICS:
            if spec.kind == "gauge" and spec.name.startswith("modelmuxer_budget_"):
                continue  # see _budgets.py: read from the guards, not counted here
            if spec.name in OPS_GAUGES:
                continue  # see _ops.py: read from the health checkers
            if self.local is not None and spec.name in HOT:
                continue
            labels = [*spec.labels, *(self.identity_labels if spec.identity else ())]
            metric: _Metric
            if spec.kind == "counter":
                metric = Counter(spec.name, spec.help, labels, registry=registry)
            elif spec.kind == "histogram":
                metric = Histogram(
                    spec.name, spec.help, labels, registry=registry, buckets=self.buckets
                )
            else:
                metric = Gauge(
                    spec.name, spec.help, labels, registry=registry, multiprocess_mode="livemax"
                )
            self.families[spec.name] = metric

    def call_sink(self, key: tuple[str, ...]) -> LocalCallSink | PromCallSink:
        """Where the calls of ``(model, provider, strategy, outcome, *identity)`` are counted."""
        if self.local is not None:
            return self.local.call_sink(key)
        return PromCallSink(self._hot(), key)

    def request_sink(self, key: tuple[str, ...]) -> LocalRequestSink | PromRequestSink:
        """Where the requests of ``(strategy, model, provider, outcome, *identity)`` are counted."""
        if self.local is not None:
            return self.local.request_sink(key)
        return PromRequestSink(self._hot(), key)

    def _hot(self) -> dict[str, Counter | Histogram]:
        return {
            name: metric
            for name, metric in self.families.items()
            if name in HOT and isinstance(metric, Counter | Histogram)
        }

    def counter(self, name: str) -> Counter:
        metric = self.families[name]
        assert isinstance(metric, Counter)
        return metric

    def histogram(self, name: str) -> Histogram:
        metric = self.families[name]
        assert isinstance(metric, Histogram)
        return metric

    def gauge(self, name: str) -> Gauge:
        metric = self.families[name]
        assert isinstance(metric, Gauge)
        return metric

    def bounded(self, family: str, label: str, value: object, limit: int) -> str:
        """``value`` as a label value; past ``limit`` distinct values of a label, ``other``."""
        text = "" if value is None else str(value)
        seen = self._seen.get((family, label))
        if seen is not None and text in seen:
            return text
        with self._lock:
            seen = self._seen.setdefault((family, label), set())
            if text not in seen:
                if len(seen) >= limit:
                    return "other"
                seen.add(text)
        return text

    def identity_values(self, identity: Identity) -> tuple[str, ...]:
        """The identity label values of a request (empty when none are configured)."""
        return tuple(
            self.bounded("identity", label, getattr(identity, label), self.identity_label_limit)
            for label in self.identity_labels
        )

    def exposed(self) -> CollectorRegistry:
        """The registry a scrape reads: in multi-process mode, every process's values."""
        if not self.multiprocess:
            registry = self._registry()
            assert registry is not None, "a registry in use is referenced by its plugins"
            return registry
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged

    def serve(self, port: int, addr: str) -> int | None:
        """Serve the metrics over HTTP (once per address); the port, or ``None`` when another
        process serves it (multi-process mode)."""
        with self._lock:
            for (a, p), server in self._servers.items():
                if a == addr and (p == port or port == 0):
                    return int(server.server_port)
            try:
                server, _ = start_http_server(port, addr, self.exposed())
            except OSError as exc:
                if self.multiprocess:  # any one process serves the aggregate of all of them
                    _log.info("metrics port %s:%s is served by another process", addr, port)
                    return None
                raise ConfigError(
                    f"cannot serve metrics on {addr}:{port}: {exc}; set telemetry.metrics_port "
                    "to a free port (0 picks one)"
                ) from exc
            self._servers[(addr, port)] = server
            return int(server.server_port)

    def release(self) -> None:
        """One muxer stopped using the families; the last one stops the HTTP servers."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()
            server.server_close()


class MetricsPlugin:
    """Counts what the pipeline does in Prometheus metrics; a pluggy plugin.

    Listens to ``modelmuxer_record`` (one record per model call or cache hit),
    ``modelmuxer_request_end`` and ``modelmuxer_event``. ``registry`` defaults to a registry of
    its own (``settings.metrics_registry="muxer"``) or ``prometheus_client.REGISTRY``
    (``"global"``). ``catalog`` gives the strongest candidate (savings); ``budgets`` the guard
    whose budgets are exposed as gauges; ``ops`` the health checker whose outbox backlog and
    shared-state breakers are. Serve the metrics with ``settings.metrics_port`` or
    :meth:`serve`, read them with :meth:`scrape`.
    """

    def __init__(
        self,
        settings: TelemetrySettings | None = None,
        *,
        catalog: Iterable[ModelCard] = (),
        budgets: BudgetGuard | None = None,
        registry: CollectorRegistry | None = None,
        ops: OpsSource | None = None,
    ) -> None:
        settings = settings if settings is not None else TelemetrySettings(metrics=True)
        if registry is None:
            registry = REGISTRY if settings.metrics_registry == "global" else CollectorRegistry()
        self.settings = settings
        #: the registry the metrics are registered in
        self.registry = registry
        self._set = MetricSet.of(registry, settings)
        self._identity = bool(settings.identity_labels)
        ranked = sorted(catalog, key=lambda c: (c.quality, c.output_cost_per_token), reverse=True)
        self._strongest = ranked[0] if ranked else None
        #: the strongest candidate's prices of an input and an output token (cards are frozen)
        self._strongest_rates = (
            (0.0, 0.0)
            if self._strongest is None
            else (self._strongest.input_cost_per_token, self._strongest.output_cost_per_token)
        )
        self._calls: dict[tuple[str, ...], LocalCallSink | PromCallSink] = {}
        self._requests: dict[tuple[str, ...], LocalRequestSink | PromRequestSink] = {}
        self._ttft: dict[tuple[str, str], Histogram] = {}
        self._saved: dict[str, Counter] = {}
        cache = self._set.counter("modelmuxer_cache_requests")
        self._cache = {result: cache.labels(result) for result in ("exact", "semantic", "miss")}
        self._guard = budgets
        self._refresh_s = settings.budget_refresh_s
        self._next_refresh = 0.0
        gauges = self._set.budgets
        #: set in multi-process mode: the gauges this muxer refreshes at the end of requests
        self._gauges = gauges if isinstance(gauges, BudgetGauges) and budgets is not None else None
        if budgets is not None:
            gauges.add(budgets)
        self._ops = ops
        #: set in multi-process mode: the operational gauges refreshed at the end of requests
        self._ops_gauges = (
            self._set.ops if isinstance(self._set.ops, OpsGauges) and ops is not None else None
        )
        if ops is not None:
            self._set.ops.add(ops)
        self._handlers: dict[str, Callable[[str, Mapping[str, Any]], None]] = {
            "retry": self._retry,
            "fallback": self._fallback,
            "ratelimit.rejected": self._ratelimit,
            "shared_state.unavailable": self._shared_state,
            "policy.denied": self._policy,
            "pii.redacted": self._pii,
            "budget.threshold": self._threshold,
            "spend.spike": self._spike,
            **dict.fromkeys(_BREAKER, self._breaker),
        }
        #: the port the metrics are served on (``None``: not served by this process)
        self.port: int | None = None
        self._closed = False
        if settings.metrics_port is not None:
            try:
                self.serve(settings.metrics_port, settings.metrics_addr)
            except ConfigError:
                self.close()
                raise

    # -- reading ------------------------------------------------------------------------------

    def scrape(self) -> bytes:
        """The metrics in the Prometheus text format, as an HTTP scrape would return them."""
        return generate_latest(self._set.exposed())

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> int | None:
        """Serve the metrics at ``http://addr:port/metrics`` from a daemon thread.

        ``port=0`` picks a free port. Returns the port (also :attr:`port`); ``None`` in
        multi-process mode when another process already serves it.
        """
        self.port = self._set.serve(port, addr)
        return self.port

    def close(self) -> None:
        """Stop exposing this muxer's budgets; the last muxer on the registry stops its server
        (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._guard is not None:
            self._set.budgets.discard(self._guard)
            self._guard = self._gauges = None
        if self._ops is not None:
            self._set.ops.discard(self._ops)
            self._ops = self._ops_gauges = None
        self._set.release()

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """Count one model call (or cache hit): calls, tokens, cost, latency, decisions."""
        try:  # inline, not a helper call: this runs for every model call
            if record.cache in _HIT:
                self._count_hit(record)
                return
            outcome = record.outcome
            key: tuple[str, ...] = (record.model, record.provider, record.strategy, outcome)
            if self._identity:
                key += self._set.identity_values(record.identity)
            sink = self._calls.get(key)
            if sink is None:
                sink = self._calls[key] = self._set.call_sink(key)
            usage = record.usage
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            if_strongest = 0.0
            strongest = self._strongest
            if strongest is not None and outcome != "escalated" and (prompt or completion):
                cached = usage.cached_tokens
                if cached:
                    if_strongest = strongest.cost_usd(prompt, completion, cached)
                else:  # what ModelCard.cost_usd computes without cached tokens, inline
                    rate_in, rate_out = self._strongest_rates
                    if_strongest = prompt * rate_in + completion * rate_out
            sink.add(
                prompt,
                completion,
                record.cost_usd,
                if_strongest,
                record.attempt == 0,
                record.latency_s,
            )
            if record.ttft_s is not None:
                self._ttft_of(record.model, record.provider).observe(record.ttft_s)
        except Exception:  # a hook must not raise: the metric is lost, the request is not
            _log.exception("metrics: cannot count the call record of %s", record.request_id)

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        """Count the request: outcome, duration, error type, cache result."""
        try:
            if error is None:
                if completion is None:
                    key: tuple[str, ...] = (ctx.strategy, "none", "none", "ok")
                else:
                    key = (ctx.strategy, completion.model, completion.provider, "ok")
            else:
                key = (ctx.strategy, "none", "none", self._failure(ctx, error))
            if self._identity:
                key += self._set.identity_values(ctx.request.identity)
            sink = self._requests.get(key)
            if sink is None:
                sink = self._requests[key] = self._set.request_sink(key)
            sink.add(time.perf_counter() - ctx.started_perf)
            if ctx.cache != "off":
                self._cache[ctx.cache].inc()
            if self._gauges is not None or self._ops_gauges is not None:
                self._refresh_gauges()
        except Exception:
            _log.exception("metrics: cannot count request %s", ctx.request.request_id)

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        """Count an operational event (retries, fallbacks, breakers, rejections...)."""
        handler = self._handlers.get(name)
        if handler is None:
            return
        try:
            handler(name, data)
        except Exception:
            _log.exception("metrics: cannot count event %s", name)

    # -- calls and requests -------------------------------------------------------------------

    def _count_hit(self, record: CallRecord) -> None:
        """A cache hit: no model call, only what it saved."""
        if record.saved_usd:
            saved = self._saved.get(record.model)
            if saved is None:
                saved = self._saved[record.model] = self._set.counter(
                    "modelmuxer_cache_saved_usd"
                ).labels(record.model)
            saved.inc(record.saved_usd)

    def _ttft_of(self, model: str, provider: str) -> Histogram:
        child = self._ttft.get((model, provider))
        if child is None:
            family = self._set.histogram("modelmuxer_time_to_first_token_seconds")
            child = self._ttft[(model, provider)] = family.labels(model, provider)
        return child

    def _failure(self, ctx: RequestContext, error: BaseException) -> str:
        """The outcome of a failed request (counting its error type unless it was cancelled)."""
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            return "cancelled"
        errors = self._set.counter("modelmuxer_request_errors")
        errors.labels(ctx.strategy, type(error).__name__).inc()
        return "error"

    def _refresh_gauges(self) -> None:
        """Multi-process mode: refresh this muxer's gauges, at most every ``budget_refresh_s``."""
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self._refresh_s
            if self._gauges is not None:
                self._gauges.refresh()
            if self._ops_gauges is not None:
                self._ops_gauges.refresh()

    # -- events -------------------------------------------------------------------------------

    def _inc(
        self, family: str, data: Mapping[str, Any], labels: tuple[str, ...], by: float = 1
    ) -> None:
        counter = self._set.counter(family)
        values = [self._set.bounded(family, k, data.get(k), _EVENT_LABEL_LIMIT) for k in labels]
        counter.labels(*values).inc(by)

    def _retry(self, name: str, data: Mapping[str, Any]) -> None:
        self._inc("modelmuxer_retries", data, ("model",))

    def _fallback(self, name: str, data: Mapping[str, Any]) -> None:
        self._inc("modelmuxer_fallbacks", data, ("from_model", "to_model"))

    def _ratelimit(self, name: str, data: Mapping[str, Any]) -> None:
        self._inc("modelmuxer_ratelimit_rejections", data, ("scope", "kind"))

    def _shared_state(self, name: str, data: Mapping[str, Any]) -> None:
        self._inc("modelmuxer_shared_state_unavailable", data, ("component", "rule"))

    def _policy(self, name: str, data: Mapping[str, Any]) -> None:
        self._inc("modelmuxer_policy_denials", data, ("rule",))

    def _pii(self, name: str, data: Mapping[str, Any]) -> None:
        counts = data.get("counts")
        if isinstance(counts, Mapping):
            for kind, count in counts.items():
                if isinstance(count, int | float) and count > 0:
                    self._inc("modelmuxer_pii_redactions", {"kind": kind}, ("kind",), count)

    def _threshold(self, name: str, data: Mapping[str, Any]) -> None:
        threshold = data.get("threshold")
        shown = f"{threshold:g}" if isinstance(threshold, int | float) else threshold
        values = {"budget": data.get("budget"), "threshold": shown}
        self._inc("modelmuxer_budget_threshold_events", values, ("budget", "threshold"))

    def _spike(self, name: str, data: Mapping[str, Any]) -> None:
        self._set.counter("modelmuxer_spend_spike_events").inc()

    def _breaker(self, name: str, data: Mapping[str, Any]) -> None:
        model = self._set.bounded("breaker", "model", data.get("model"), _EVENT_LABEL_LIMIT)
        self._set.gauge("modelmuxer_breaker_state").labels(model).set(_BREAKER[name])
        state = name.removeprefix("breaker.")
        self._set.counter("modelmuxer_breaker_transitions").labels(model, state).inc()

    def __repr__(self) -> str:
        return f"MetricsPlugin(port={self.port!r}, multiprocess={self._set.multiprocess})"
