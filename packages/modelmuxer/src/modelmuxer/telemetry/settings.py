"""How telemetry is configured: :class:`TelemetrySettings` (the ``telemetry`` field of
``MuxerSettings``).

Importing this module imports pydantic only: prometheus-client and OpenTelemetry are imported
when metrics or tracing are switched on.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_LATENCY_BUCKETS", "IdentityLabel", "MetricsRegistry", "TelemetrySettings"]

#: Identity fields that may be added as metric labels (each distinct value is a new series).
IdentityLabel = Literal["org", "project", "user"]
#: ``muxer``: a registry of the muxer's own; ``global``: ``prometheus_client.REGISTRY``.
MetricsRegistry = Literal["muxer", "global"]

#: Histogram buckets (seconds) for call latency, time to first token and request duration:
#: from a cache hit to a long reasoning answer.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    40.0,
    80.0,
)


class TelemetrySettings(BaseModel):
    """The ``telemetry`` section of :class:`~modelmuxer.config.MuxerSettings`.

    Everything is off by default. ``metrics`` needs the ``metrics`` extra (prometheus-client),
    ``tracing`` the ``tracing`` extra (opentelemetry-api and -sdk); ``logs`` uses the standard
    :mod:`logging` module only. Each can also be switched on at run time:
    ``muxer.telemetry.enable_metrics()``, ``enable_tracing()``, ``enable_logs()``.

    Metrics live in a registry of the muxer's own by default (``muxer.telemetry.metrics``
    serves or scrapes it), so building many muxers in one process never collides;
    ``metrics_registry="global"`` puts them in ``prometheus_client.REGISTRY``, which most web
    frameworks' ``/metrics`` endpoints serve, shared by every muxer of the process. With
    ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn and similar), values go to that directory and are
    aggregated over processes at scrape time: see ``docs/observability.md``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics: bool = Field(default=False, description="Prometheus metrics (extra 'metrics')")
    metrics_registry: MetricsRegistry = Field(
        default="muxer",
        description="'muxer': a registry of this muxer's own; 'global': "
        "prometheus_client.REGISTRY, shared by every muxer of the process",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve the metrics over HTTP on this port (0: any free port); "
        "none: serve or scrape the registry yourself",
    )
    metrics_addr: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address the metrics server listens on ('0.0.0.0' in a container)",
    )
    identity_labels: tuple[IdentityLabel, ...] = Field(
        default=(),
        description="identity fields added as labels of the request, cost and token metrics; "
        "none by default, as each distinct value is a new series",
    )
    identity_label_limit: int = Field(
        default=100,
        ge=1,
        description="distinct values kept per identity label; later ones are labelled 'other'",
    )
    latency_buckets: tuple[float, ...] = Field(
        default=DEFAULT_LATENCY_BUCKETS,
        min_length=1,
        description="histogram buckets in seconds (latency, time to first token, duration)",
    )
    budget_refresh_s: float = Field(
        default=1.0,
        ge=0.0,
        description="multi-process mode: budget gauges are refreshed at the end of a request "
        "at most this often (a single process reads them at scrape time)",
    )
    tracing: bool = Field(default=False, description="OpenTelemetry spans (extra 'tracing')")
    capture_content: bool = Field(
        default=False,
        description="put prompts and answers on spans (gen_ai.input.messages / "
        "gen_ai.output.messages); privacy: off",
    )
    live_spans: bool = Field(
        default=False,
        description="always make spans with the tracer's start_span (else, with the SDK's "
        "batch or simple processors, direct spans: the same spans at a fraction of the cost)",
    )
    logs: bool = Field(
        default=False,
        description="one log record per request, per model call and per operational event "
        "(loggers modelmuxer.requests / .calls / .events)",
    )
    log_json: bool = Field(
        default=False,
        description="also write the 'modelmuxer' logger's records as JSON lines to stderr",
    )

    @field_validator("latency_buckets")
    @classmethod
    def _buckets_increase(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= 0 for b in value) or any(a >= b for a, b in itertools.pairwise(value)):
            raise ValueError("latency_buckets must be positive and strictly increasing")
        return value

    @field_validator("identity_labels")
    @classmethod
    def _labels_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("identity_labels must not repeat a field")
        return value
