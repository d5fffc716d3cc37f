"""Telemetry: Prometheus metrics, OpenTelemetry spans and structured logs (all off by default).

Switch them on with ``settings.telemetry`` (``{"metrics": true, "tracing": true, "logs": true}``)
or at run time through ``muxer.telemetry`` (:class:`Telemetry`). Metrics need the ``metrics``
extra (prometheus-client), spans the ``tracing`` extra (opentelemetry-api and -sdk); both are
imported only when switched on. See ``docs/observability.md``.

Names load on first use (PEP 562): :class:`TelemetrySettings` is imported by the settings of
every muxer, and must not pull prometheus-client or OpenTelemetry in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.telemetry._telemetry import Telemetry
    from modelmuxer.telemetry.logs import JsonFormatter, LogPlugin
    from modelmuxer.telemetry.metrics import MetricsPlugin
    from modelmuxer.telemetry.names import METRICS, MetricSpec, exposed_names
    from modelmuxer.telemetry.settings import TelemetrySettings
    from modelmuxer.telemetry.tracing import TracingPlugin

__all__ = [
    "METRICS",
    "JsonFormatter",
    "LogPlugin",
    "MetricSpec",
    "MetricsPlugin",
    "Telemetry",
    "TelemetrySettings",
    "TracingPlugin",
    "exposed_names",
]

_MODULE_OF = {
    "Telemetry": "_telemetry",
    "JsonFormatter": "logs",
    "LogPlugin": "logs",
    "MetricsPlugin": "metrics",
    "METRICS": "names",
    "MetricSpec": "names",
    "exposed_names": "names",
    "TelemetrySettings": "settings",
    "TracingPlugin": "tracing",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer.telemetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer.telemetry.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
