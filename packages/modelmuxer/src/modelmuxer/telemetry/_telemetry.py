"""``muxer.telemetry``: the muxer's metrics, tracing and log plugins, switched on by settings or
by one call each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    from modelmuxer.budgets import BudgetGuard
    from modelmuxer.telemetry._ops import OpsSource
    from modelmuxer.telemetry.logs import LogPlugin
    from modelmuxer.telemetry.metrics import MetricsPlugin
    from modelmuxer.telemetry.settings import TelemetrySettings
    from modelmuxer.telemetry.tracing import TracingPlugin
    from modelmuxer.types import ModelCard

__all__ = ["Telemetry"]


class Telemetry:
    """A muxer's telemetry: :attr:`metrics`, :attr:`tracing` and :attr:`logs` (each ``None``
    while off).

    ``Muxer`` builds it from ``settings.telemetry``; a part that is off can be switched on later
    with :meth:`enable_metrics`, :meth:`enable_tracing` or :meth:`enable_logs` (each registers
    its plugin on the muxer's plugin manager, once). prometheus-client and OpenTelemetry are
    imported only by the part that uses them. ``budgets`` and ``ops`` (the muxer's health
    checker: outbox backlog, shared-state breakers) are read by the metrics at scrape time.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        settings: TelemetrySettings,
        *,
        catalog: Iterable[ModelCard] = (),
        budgets: BudgetGuard | None = None,
        ops: OpsSource | None = None,
    ) -> None:
        self.settings = settings
        self._pm = pm
        self._catalog = list(catalog)
        self._budgets = budgets
        self._ops = ops
        #: the Prometheus metrics plugin (``None`` while off)
        self.metrics: MetricsPlugin | None = None
        #: the OpenTelemetry tracing plugin (``None`` while off)
        self.tracing: TracingPlugin | None = None
        #: the structured-log plugin (``None`` while off)
        self.logs: LogPlugin | None = None
        if settings.metrics:
            self.enable_metrics()
        if settings.tracing:
            self.enable_tracing()
        if settings.logs or settings.log_json:
            self.enable_logs()

    def enable_metrics(
        self, *, registry: CollectorRegistry | None = None, port: int | None = None
    ) -> MetricsPlugin:
        """Switch Prometheus metrics on (needs the ``metrics`` extra); returns the plugin.

        ``registry``: where the metrics go (default: as ``settings.metrics_registry`` says);
        ``port``: serve them over HTTP there (default: ``settings.metrics_port``). Once on
        (by the settings or an earlier call), later calls return the same plugin, serving it on
        ``port`` if one is given.

        :raises ConfigError: metrics are already on in another registry than ``registry``.
        """
        if self.metrics is not None:
            if registry is not None and registry is not self.metrics.registry:
                raise ConfigError(
                    "metrics are already on in another registry (telemetry.metrics, or an "
                    "earlier enable_metrics); pass the registry on the first call, or set "
                    "telemetry.metrics_registry"
                )
            if port is not None:
                self.settings = self._with(metrics_port=port)
                self.metrics.serve(port, self.settings.metrics_addr)
            return self.metrics
        from modelmuxer.telemetry.metrics import MetricsPlugin  # prometheus-client

        update = {"metrics": True} if port is None else {"metrics": True, "metrics_port": port}
        self.settings = self.settings.model_validate({**self.settings.model_dump(), **update})
        plugin = MetricsPlugin(
            self.settings,
            catalog=self._catalog,
            budgets=self._budgets,
            registry=registry,
            ops=self._ops,
        )
        self._pm.register(plugin, name="modelmuxer.telemetry.metrics")
        self.metrics = plugin
        return self.metrics

    def enable_tracing(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool | None = None,
        live_spans: bool | None = None,
    ) -> TracingPlugin:
        """Switch OpenTelemetry spans on (needs the ``tracing`` extra); returns the plugin.

        ``tracer_provider``: where spans go (default: the global provider, looked up per
        request); ``capture_content``: prompts and answers on spans; ``live_spans``: always the
        tracer's own spans, never direct ones (both default to the settings). Once on (by the
        settings or an earlier call), later calls return the same plugin with the arguments
        given applied to it.
        """
        if self.tracing is not None:
            self.tracing.reconfigure(
                tracer_provider=tracer_provider,
                capture_content=capture_content,
                live_spans=live_spans,
            )
            self.settings = self._with(
                capture_content=self.tracing.capture_content, live_spans=self.tracing.live_spans
            )
            return self.tracing
        from modelmuxer.telemetry.tracing import TracingPlugin  # opentelemetry

        settings = self.settings
        capture = settings.capture_content if capture_content is None else capture_content
        live = settings.live_spans if live_spans is None else live_spans
        update = {"tracing": True, "capture_content": capture, "live_spans": live}
        self.settings = settings.model_validate({**settings.model_dump(), **update})
        plugin = TracingPlugin(
            tracer_provider=tracer_provider, capture_content=capture, live_spans=live
        )
        plugin.register(self._pm)
        self.tracing = plugin
        return self.tracing

    def enable_logs(self, *, json: bool | None = None) -> LogPlugin:
        """Switch structured logs on; ``json`` also writes them as JSON lines to stderr
        (default: ``settings.log_json``). Returns the plugin; once on (by the settings or an
        earlier call), ``json=True`` installs the JSON handler then (``False`` removes none)."""
        if self.logs is not None:
            if json:
                from modelmuxer.telemetry.logs import install_json_handler

                install_json_handler()
                self.settings = self._with(log_json=True)
            return self.logs
        from modelmuxer.telemetry.logs import LogPlugin

        as_json = self.settings.log_json if json is None else json
        update = {"logs": True, "log_json": as_json}
        self.settings = self.settings.model_validate({**self.settings.model_dump(), **update})
        plugin = LogPlugin(json=as_json)
        self._pm.register(plugin, name="modelmuxer.telemetry.logs")
        self.logs = plugin
        return self.logs

    def _with(self, **update: object) -> TelemetrySettings:
        """The settings with ``update`` applied (validated again)."""
        return self.settings.model_validate({**self.settings.model_dump(), **update})

    def close(self) -> None:
        """Release the metrics' registry share (its HTTP server stops with its last muxer)."""
        if self.metrics is not None:
            self.metrics.close()

    def __repr__(self) -> str:
        parts = [name for name in ("metrics", "tracing", "logs") if getattr(self, name) is not None]
        return f"Telemetry(on={parts!r})"
