"""``modelmuxer report``: spend by model / user / org / project / day, savings, budgets."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmuxer.cli.db import add_url_options, existing_ledger, ledger_url
from modelmuxer.cli.table import render_table
from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from modelmuxer.ledger.reports import BudgetLimit, SpendReport

__all__ = ["add_report", "parse_budget", "parse_moment", "render_csv", "render_json", "render_text"]

_RELATIVE = re.compile(r"^(\d+)([hdw])$")
_GROUPS = ("model", "user", "org", "project", "day", "provider", "strategy")


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: ISO date / datetime (UTC unless it says), or ``7d`` / ``12h`` / ``2w``
    ago.

    :raises ConfigError: ``text`` is neither, or goes back before the year 1.
    """
    match = _RELATIVE.match(text)
    if match:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        try:
            return (now or datetime.now(UTC)) - timedelta(**{unit: int(match.group(1))})
        except OverflowError:
            raise ConfigError(f"{text!r} is too far back: datetimes start at the year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r} as a time: use 2026-01-31, 2026-01-31T12:00 or 7d / 12h / 2w"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_budget(text: str) -> BudgetLimit:
    """``global=100``, ``org:acme=50``, ``user:alice=5``, ``project:search=20`` (USD).

    :raises ConfigError: another form, or an amount that is not a finite number >= 0 (``NaN``
        and ``Infinity`` are refused).
    """
    from modelmuxer.ledger.reports import BudgetLimit

    scope_name, _, amount = text.partition("=")
    scope, _, name = scope_name.partition(":")
    try:
        limit = Decimal(amount)
    except InvalidOperation:
        limit = Decimal(-1)
    if (
        scope not in ("global", "user", "org", "project")
        or not limit.is_finite()
        or limit < 0
        or (scope != "global" and not name)
    ):
        raise ConfigError(
            f"cannot read budget {text!r}: use global=USD or user|org|project:NAME=USD"
        )
    return BudgetLimit(scope, name or None, limit)  # type: ignore[arg-type]


def _usd(amount: Decimal) -> str:
    return f"-${-amount:.6f}" if amount < 0 else f"${amount:.6f}"


def _pct(part: Decimal, whole: Decimal) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def render_text(report: SpendReport) -> str:
    """The report as plain-text tables."""
    rows = [
        [
            line.key or "-",
            str(line.requests),
            str(line.calls),
            str(line.prompt_tokens),
            str(line.completion_tokens),
            _usd(line.cost_usd),
            str(line.cache_hits),
        ]
        for line in report.lines
    ]
    headers = [report.by, "requests", "calls", "tokens in", "tokens out", "cost", "cache hits"]
    parts = [render_table(headers, rows, right=(1, 2, 3, 4, 5, 6)) if rows else "no calls"]
    s = report.savings
    parts.append("")
    parts.append(f"total spend: {_usd(s.actual_usd)}")
    if s.covered_calls:
        strongest = ", ".join(s.strongest_models)
        parts.append(
            f"vs always the strongest model ({strongest}): would have cost "
            f"{_usd(s.if_strongest_usd)}, saved {_usd(s.vs_strongest_usd)} "
            f"({_pct(s.vs_strongest_usd, s.if_strongest_usd)}) over {s.covered_calls} call(s)"
        )
    if s.named_calls:
        parts.append(
            f"vs always the model the caller named: would have cost {_usd(s.if_named_usd)}, "
            f"saved {_usd(s.vs_named_usd)} ({_pct(s.vs_named_usd, s.if_named_usd)}) "
            f"over {s.named_calls} call(s)"
        )
    parts.append(f"cache: {s.cache_hits} hit(s) saved {_usd(s.cache_saved_usd)}")
    if report.budgets:
        budget_rows = [
            [
                b.limit.scope
                + (f":{b.limit.name}" if b.limit.name else "")
                + (f" ({b.limit.period})" if b.limit.period else ""),
                _usd(b.limit.limit_usd),
                _usd(b.spent_usd),
                _usd(b.remaining_usd),
                f"{100 * b.used:.1f}%",
            ]
            for b in report.budgets
        ]
        parts += ["", render_table(["budget", "limit", "spent", "left", "used"], budget_rows)]
    return "\n".join(parts)


def render_csv(report: SpendReport) -> str:
    """One CSV row per group (amounts as exact decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [report.by, "requests", "calls", "prompt_tokens", "completion_tokens", "cost_usd",
         "cache_hits", "cache_saved_usd"]
    )  # fmt: skip
    for line in report.lines:
        writer.writerow(
            [line.key or "", line.requests, line.calls, line.prompt_tokens,
             line.completion_tokens, line.cost_usd, line.cache_hits, line.cache_saved_usd]
        )  # fmt: skip
    return out.getvalue().rstrip("\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(report: SpendReport) -> str:
    """The whole report as strict JSON (amounts as decimal strings, exact; a budget's ``used``
    is ``null`` where it is infinite: a zero limit with spend)."""
    from dataclasses import asdict

    data = asdict(report)
    data["savings"]["vs_strongest_usd"] = report.savings.vs_strongest_usd
    data["savings"]["vs_named_usd"] = report.savings.vs_named_usd
    for line, budget in zip(data["budgets"], report.budgets, strict=True):
        line["remaining_usd"] = budget.remaining_usd
        line["used"] = budget.used if math.isfinite(budget.used) else None
    return json.dumps(data, default=_jsonable, indent=2, allow_nan=False)


def _settings_budgets(config: str | None) -> list[BudgetLimit]:
    """Budget limits from the settings, when they hold any (the budgets' seam)."""
    from modelmuxer.config import load_settings
    from modelmuxer.ledger.reports import limits_from_settings

    return limits_from_settings(load_settings(config))


def run_report(args: argparse.Namespace) -> int:
    from modelmuxer.ledger.reports import spend_report

    url = ledger_url(args.url, args.config)
    since = parse_moment(args.since) if args.since else None
    until = parse_moment(args.until) if args.until else None
    if since is not None and until is not None and since >= until:
        raise ConfigError(
            f"--since {args.since} is not before --until {args.until}: the range is empty"
        )
    where = {k: v for k in ("user", "org", "project") if (v := getattr(args, k)) is not None}
    budgets = [parse_budget(text) for text in args.budget or ()] or _settings_budgets(args.config)
    existing_ledger(url)
    report = spend_report(url, by=args.by, since=since, until=until, where=where, budgets=budgets)
    render = {"table": render_text, "csv": render_csv, "json": render_json}[args.format]
    print(render(report))
    if args.plot:
        from modelmuxer.ledger.plot import plot_report

        plot_report(report, Path(args.plot))
    return 0


def add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report``."""
    report = sub.add_parser(
        "report",
        help="spend by model / user / org / project / day, savings, budgets (from the ledger)",
        description="Who spent what on which model, and what routing and caching saved: "
        "against always the strongest model and always the model the caller named.",
    )
    add_url_options(report)
    report.add_argument("--since", metavar="WHEN", help="from (ISO date/datetime, or 7d, 12h)")
    report.add_argument("--until", metavar="WHEN", help="until, exclusive (same forms)")
    report.add_argument("--by", choices=_GROUPS, default="model", help="group spend by")
    for key in ("user", "org", "project"):
        report.add_argument(f"--{key}", metavar="NAME", help=f"only this {key}")
    report.add_argument(
        "--budget",
        action="append",
        metavar="SCOPE=USD",
        help="report spend against a limit: global=100, org:acme=50, user:alice=5 (repeatable)",
    )
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument(
        "--plot", metavar="FILE.png", help="draw spend over time by model and the savings"
    )
    report.set_defaults(handler=run_report)
