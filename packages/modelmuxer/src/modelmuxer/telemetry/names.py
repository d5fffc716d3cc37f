"""Every metric ModelMuxer exposes, its type and labels: the one list the metrics, the docs and
the Grafana dashboard are checked against.

Pure data: importing it imports neither prometheus-client nor OpenTelemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["METRICS", "OPS_GAUGES", "PREFIX", "MetricKind", "MetricSpec", "exposed_names"]

PREFIX: Final = "modelmuxer_"
MetricKind = Literal["counter", "gauge", "histogram"]

_SUFFIXES: Final[dict[MetricKind, tuple[str, ...]]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family.

    ``name`` is the family's name (a counter's samples add ``_total``, a histogram's
    ``_bucket`` / ``_count`` / ``_sum``). ``identity`` families also carry the labels named by
    ``telemetry.identity_labels`` (none by default).
    """

    name: str
    kind: MetricKind
    labels: tuple[str, ...]
    help: str
    identity: bool = False

    def sample_names(self) -> tuple[str, ...]:
        """The names a scrape shows for this family."""
        return tuple(self.name + suffix for suffix in _SUFFIXES[self.kind])


def _spec(
    name: str, kind: MetricKind, labels: tuple[str, ...], help: str, identity: bool = False
) -> MetricSpec:
    return MetricSpec(PREFIX + name, kind, labels, help, identity)


_CALL = ("model", "provider", "strategy", "outcome")

#: every metric family, in the order the docs list them
METRICS: Final[tuple[MetricSpec, ...]] = (
    _spec(
        "requests",
        "counter",
        ("strategy", "model", "provider", "outcome"),
        "Requests that left the pipeline; model is the one that answered ('none' when the request "
        "failed); outcome ok, error or cancelled",
        identity=True,
    ),
    _spec(
        "request_errors",
        "counter",
        ("strategy", "error_type"),
        "Failed requests by the class of the error they raised",
    ),
    _spec(
        "request_duration_seconds",
        "histogram",
        ("strategy",),
        "Time from a request entering the pipeline to its answer or error, cascades included",
    ),
    _spec(
        "model_calls",
        "counter",
        _CALL,
        "Model calls (cache hits excluded); outcome ok, escalated, error or cancelled",
    ),
    _spec(
        "tokens",
        "counter",
        ("model", "provider", "type"),
        "Tokens of model calls; type input or output",
        identity=True,
    ),
    _spec(
        "cost_usd",
        "counter",
        ("model", "provider", "strategy"),
        "Cost of model calls in USD",
        identity=True,
    ),
    _spec(
        "cost_if_strongest_usd",
        "counter",
        ("strategy",),
        "What the same calls would have cost on the strongest candidate, in USD (escalated "
        "steps count 0, as in the ledger): savings = this - cost_usd",
    ),
    _spec(
        "model_call_duration_seconds",
        "histogram",
        ("model", "provider"),
        "Duration of model calls, whole answer",
    ),
    _spec(
        "time_to_first_token_seconds",
        "histogram",
        ("model", "provider"),
        "Time to the first streamed token",
    ),
    _spec(
        "routing_decisions",
        "counter",
        ("strategy", "model"),
        "Routing decisions by strategy and the model chosen first",
    ),
    _spec(
        "cascade_escalations",
        "counter",
        ("strategy", "model"),
        "Answers the judge rejected, so the next model was asked; model is the rejected one",
    ),
    _spec(
        "cache_requests",
        "counter",
        ("result",),
        "Requests that consulted the response cache; result exact, semantic or miss",
    ),
    _spec(
        "cache_saved_usd",
        "counter",
        ("model",),
        "What answers served from the cache would have cost, in USD",
    ),
    _spec("retries", "counter", ("model",), "Retries of model calls"),
    _spec(
        "fallbacks",
        "counter",
        ("from_model", "to_model"),
        "Fallbacks to another model before the first byte",
    ),
    _spec(
        "breaker_state",
        "gauge",
        ("model",),
        "Circuit breaker of a model: 0 closed, 1 half-open, 2 open",
    ),
    _spec(
        "breaker_transitions",
        "counter",
        ("model", "state"),
        "Circuit breaker state changes; state opened, half_open or closed",
    ),
    _spec(
        "ratelimit_rejections",
        "counter",
        ("scope", "kind"),
        "Requests refused by a rate limit; scope user, org, model or global; kind requests "
        "or tokens (the subject is never a label)",
    ),
    _spec(
        "shared_state_unavailable",
        "counter",
        ("component", "rule"),
        "Times shared state (cache, budgets, limits, ledger) was unreachable; rule open "
        "(served anyway) or closed (refused)",
    ),
    _spec("policy_denials", "counter", ("rule",), "Models excluded by an access policy"),
    _spec(
        "pii_redactions",
        "counter",
        ("kind",),
        "PII values redacted from requests, by kind",
    ),
    _spec("budget_limit_usd", "gauge", ("budget",), "Limit of a budget's current window, USD"),
    _spec("budget_spent_usd", "gauge", ("budget",), "Spent in a budget's current window, USD"),
    _spec(
        "budget_reserved_usd",
        "gauge",
        ("budget",),
        "Reserved by calls in flight in a budget's current window, USD",
    ),
    _spec(
        "budget_remaining_usd",
        "gauge",
        ("budget",),
        "What may still be reserved in a budget's current window, USD",
    ),
    _spec(
        "budget_used_ratio",
        "gauge",
        ("budget",),
        "Spent share of a budget's limit in its current window (1: spent in full)",
    ),
    _spec(
        "budget_threshold_events",
        "counter",
        ("budget", "threshold"),
        "Budget thresholds crossed (the budget.threshold event); threshold a fraction of the "
        "limit, e.g. 0.8",
    ),
    _spec(
        "spend_spike_events",
        "counter",
        (),
        "Spend spikes this process saw (the spend.spike event)",
    ),
    _spec(
        "ledger_outbox_bytes",
        "gauge",
        (),
        "Bytes of ledger records waiting in the outbox directory, not yet in the database",
    ),
    _spec(
        "shared_state_breaker_state",
        "gauge",
        ("component",),
        "Circuit breaker of a component on its shared store (cache, budgets, limits): "
        "0 closed, 1 half-open, 2 open (the store is skipped)",
    ),
)

#: the gauges read from the muxer's health checker (see ``_ops.py``), not counted by the plugin
OPS_GAUGES: Final = frozenset(
    {PREFIX + "ledger_outbox_bytes", PREFIX + "shared_state_breaker_state"}
)


def exposed_names() -> frozenset[str]:
    """Every sample name a scrape can show (``modelmuxer_requests_total``, ``..._bucket``...)."""
    return frozenset(name for spec in METRICS for name in spec.sample_names())
