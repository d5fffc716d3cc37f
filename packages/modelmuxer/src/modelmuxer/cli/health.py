"""``modelmuxer health``: check the stores a configuration uses, as a readiness probe would.

Exit code 0 ``ok``, 1 ``degraded``, 2 ``down`` (2 also when the command itself fails, e.g. an
invalid settings file).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from modelmuxer.cli.table import render_table

if TYPE_CHECKING:
    from modelmuxer.config import MuxerSettings
    from modelmuxer.health import HealthReport

__all__ = ["add_health", "render_report", "run_health"]


def _settings(config: str | None) -> MuxerSettings:
    """The settings to check, changed so that a check changes nothing: no schema migration,
    no entry-point plugins, no alert events."""
    from modelmuxer.config import load_settings

    settings = load_settings(config)
    return settings.model_copy(
        update={
            "ledger": settings.ledger.model_copy(update={"auto_migrate": False}),
            "audit": settings.audit.model_copy(update={"auto_migrate": False}),
            "alerts": settings.alerts.model_copy(update={"enabled": False}),
            "load_entrypoints": False,
        }
    )


def run_health(args: argparse.Namespace) -> int:
    from modelmuxer import Muxer

    with Muxer(settings=_settings(args.config)) as muxer:
        report = muxer.health()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_report(report))
    return report.exit_code


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render_report(report: HealthReport) -> str:
    """The report as plain text: the status and its reasons, then one table per part."""
    lines = [f"status: {report.status}"]
    lines += [f"  - {reason}" for reason in report.reasons]
    if report.models:
        rows = [
            [
                m.model,
                m.breaker or "-",
                "-" if m.calls is None else str(m.calls),
                "-" if m.error_rate is None else f"{m.error_rate:.0%}",
            ]
            for m in report.models
        ]
        lines += ["", render_table(["model", "breaker", "calls", "errors"], rows, right=(2, 3))]
    stores = [
        ["redis", r.url, ", ".join(r.used_by), "ok" if r.reachable else "DOWN", _ms(r.latency_ms)]
        for r in report.redis
    ] + [
        [d.backend, d.url, ", ".join(d.used_by), "ok" if d.reachable else "DOWN", _ms(d.latency_ms)]
        for d in report.databases
    ]
    if stores:
        table = render_table(["store", "url", "used by", "state", "latency"], stores, right=(4,))
        lines += ["", table]
        errors = [(r.url, r.error) for r in report.redis if r.error]
        errors += [(d.url, d.error) for d in report.databases if d.error]
        lines += [f"  {url}: {error}" for url, error in errors]
    if report.outbox is not None:
        box = report.outbox
        about = "~" if box.records_estimated else ""
        lines += ["", f"outbox: {about}{box.records} records, {box.bytes} bytes waiting"]
    if report.budgets:
        rows = [
            [
                b.budget,
                b.subject,
                f"${b.spent_usd:.4f}",
                f"${b.limit_usd:.4f}",
                f"{b.used_pct:.1f} %",
                f"${b.remaining_usd:.4f}",
            ]
            for b in report.budgets
        ]
        headers = ["budget", "subject", "spent", "limit", "used", "left"]
        lines += ["", render_table(headers, rows, right=(2, 3, 4, 5))]
    return "\n".join(lines)


def add_health(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``health``."""
    health = sub.add_parser(
        "health",
        help="check the Redis servers, databases, outbox and budgets a configuration uses",
        description="Build a muxer from the settings and report its health: each Redis server "
        "and database it uses (reachable, latency), the ledger's outbox backlog and each "
        "budget's headroom. Exit code 0 ok, 1 degraded, 2 down. Models' breakers and error "
        "rates belong to a running process: serve muxer.health() from it for those.",
    )
    health.add_argument("--config", metavar="FILE", help="a TOML or JSON settings file")
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    health.set_defaults(handler=run_health)
