"""Spend reports: who spent what on which model, against budgets, and what routing saved.

Every amount is an exact :class:`~decimal.Decimal` summed by the database. Savings compare the
ledger's actual cost with the counterfactual columns written at record time (see
:class:`~modelmuxer.ledger.models.CallRow`): "always the strongest model" and "always the model
the caller named" price each answered call's tokens at that model's prices; the same tokens, so
a stronger model's longer or shorter answers are not modelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import Date, case, cast, func, literal, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from modelmuxer.budgets.model import EACH, window_of
from modelmuxer.errors import ConfigError
from modelmuxer.ledger.engine import make_engine
from modelmuxer.ledger.models import CallRow, Money

if TYPE_CHECKING:
    from modelmuxer.config import MuxerSettings

__all__ = [
    "BudgetLimit",
    "BudgetLine",
    "DailySpend",
    "GroupBy",
    "Savings",
    "SpendLine",
    "SpendReport",
    "aspend_report",
    "limits_from_settings",
    "spend_report",
]

GroupBy = Literal["model", "user", "org", "project", "day", "provider", "strategy"]
BudgetScope = Literal["global", "user", "org", "project"]
_ZERO = Decimal(0)
_C = CallRow.__table__.c


@dataclass(frozen=True, slots=True)
class SpendLine:
    """Spend of one group (a model, a user, a day...); ``key`` ``None``: calls without one."""

    key: str | None
    requests: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    cache_hits: int
    cache_saved_usd: Decimal


@dataclass(frozen=True, slots=True)
class Savings:
    """What routing and caching saved over the range.

    ``vs_strongest_usd`` = ``if_strongest_usd`` - ``actual_usd`` over the calls whose
    counterfactual is known (``covered_calls``); likewise for the named model, over the requests
    that named one. ``cache_saved_usd``: what cache hits would have cost.
    """

    actual_usd: Decimal
    strongest_models: list[str]
    covered_calls: int
    covered_actual_usd: Decimal
    if_strongest_usd: Decimal
    named_calls: int
    named_actual_usd: Decimal
    if_named_usd: Decimal
    cache_hits: int
    cache_saved_usd: Decimal

    @property
    def vs_strongest_usd(self) -> Decimal:
        return self.if_strongest_usd - self.covered_actual_usd

    @property
    def vs_named_usd(self) -> Decimal:
        return self.if_named_usd - self.named_actual_usd


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """A spending limit to report against: ``scope`` ``global`` (``name`` ignored), or the
    ``user`` / ``org`` / ``project`` called ``name`` (``*``: each of them, a line apiece).

    Spend counts over ``[since, until)`` when set (a configured budget's current period), else
    over the report's range. ``period`` names that window (``day 2026-11-26``).
    """

    scope: BudgetScope
    name: str | None
    limit_usd: Decimal
    period: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """Spend against one :class:`BudgetLimit`."""

    limit: BudgetLimit
    spent_usd: Decimal

    @property
    def remaining_usd(self) -> Decimal:
        return self.limit.limit_usd - self.spent_usd

    @property
    def used(self) -> float:
        """The fraction of the limit spent (``inf`` for a zero limit with spend)."""
        if self.limit.limit_usd == 0:
            return 0.0 if self.spent_usd == 0 else float("inf")
        return float(self.spent_usd / self.limit.limit_usd)


@dataclass(frozen=True, slots=True)
class DailySpend:
    """One day's spend on one model, and what it saved against the strongest model."""

    day: str
    model: str
    cost_usd: Decimal
    saved_vs_strongest_usd: Decimal


@dataclass(frozen=True, slots=True)
class SpendReport:
    """The answer to "who spent what on which model, and what did routing save"."""

    by: GroupBy
    since: datetime | None
    until: datetime | None
    lines: list[SpendLine]
    savings: Savings
    budgets: list[BudgetLine] = field(default_factory=list)
    daily: list[DailySpend] = field(default_factory=list)


def limits_from_settings(settings: MuxerSettings, now: datetime | None = None) -> list[BudgetLimit]:
    """The configured budgets (``settings.budgets``), each over its period containing ``now``."""
    now = now or datetime.now(UTC)
    out = []
    for budget in settings.budgets.budgets:
        window = window_of(budget.period, now)
        out.append(
            BudgetLimit(
                budget.scope,
                budget.subject,
                budget.limit_usd,
                period=budget.period if window.label == budget.period else window.label,
                since=window.start,
                until=window.end,
            )
        )
    return out


def _money_sum(expr: Any) -> ColumnElement[Decimal]:
    return type_coerce(func.sum(type_coerce(expr, Money())), Money())


def _day(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.date(_C.started_at)
    return cast(_C.started_at, Date)


def _key(by: GroupBy, dialect: str) -> ColumnElement[Any]:
    if by == "day":
        return _day(dialect)
    return _C[by]


def _filters(
    since: datetime | None, until: datetime | None, where: Mapping[str, str]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(_C.started_at >= since)
    if until is not None:
        conditions.append(_C.started_at < until)
    for column, value in where.items():
        if column not in ("user", "org", "project", "role", "model", "provider", "strategy"):
            raise ConfigError(f"cannot filter the ledger by {column!r}")
        conditions.append(_C[column] == value)
    return conditions


def _is_hit() -> ColumnElement[bool]:
    return _C.cache.in_(("exact", "semantic"))


async def _lines(conn: Any, by: GroupBy, conditions: list[Any]) -> list[SpendLine]:
    key = _key(by, conn.dialect.name).label("key")
    query = (
        select(
            key,
            func.count(func.distinct(_C.request_id)),
            func.count(),
            func.coalesce(func.sum(_C.prompt_tokens), 0),
            func.coalesce(func.sum(_C.completion_tokens), 0),
            _money_sum(_C.cost_usd),
            func.coalesce(func.sum(case((_is_hit(), 1), else_=0)), 0),
            _money_sum(_C.saved_usd),
        )
        .where(*conditions)
        .group_by(key)
        .order_by(_money_sum(_C.cost_usd).desc(), key)
    )
    return [
        SpendLine(
            None if row[0] is None else str(row[0]),
            int(row[1]),
            int(row[2]),
            int(row[3]),
            int(row[4]),
            row[5] or _ZERO,
            int(row[6]),
            row[7] or _ZERO,
        )
        for row in (await conn.execute(query)).all()
    ]


async def _savings(conn: Any, conditions: list[Any]) -> Savings:
    strongest_known = _C.cost_if_strongest_usd.is_not(None)
    named_known = _C.cost_if_named_usd.is_not(None)
    query = select(
        _money_sum(_C.cost_usd),
        func.coalesce(func.sum(case((strongest_known, 1), else_=0)), 0),
        _money_sum(case((strongest_known, _C.cost_usd), else_=None)),
        _money_sum(_C.cost_if_strongest_usd),
        func.coalesce(func.sum(case((named_known, 1), else_=0)), 0),
        _money_sum(case((named_known, _C.cost_usd), else_=None)),
        _money_sum(_C.cost_if_named_usd),
        func.coalesce(func.sum(case((_is_hit(), 1), else_=0)), 0),
        _money_sum(_C.saved_usd),
    ).where(*conditions)
    row = (await conn.execute(query)).one()
    strongest = select(_C.strongest_model).where(*conditions, strongest_known).distinct()
    models = sorted(m for m in (await conn.execute(strongest)).scalars() if m is not None)
    return Savings(
        actual_usd=row[0] or _ZERO,
        strongest_models=models,
        covered_calls=int(row[1]),
        covered_actual_usd=row[2] or _ZERO,
        if_strongest_usd=row[3] or _ZERO,
        named_calls=int(row[4]),
        named_actual_usd=row[5] or _ZERO,
        if_named_usd=row[6] or _ZERO,
        cache_hits=int(row[7]),
        cache_saved_usd=row[8] or _ZERO,
    )


async def _budgets(
    conn: Any, limits: Sequence[BudgetLimit], conditions: list[Any]
) -> list[BudgetLine]:
    out = []
    for limit in limits:
        scoped = (
            list(conditions) if limit.period is None else _filters(limit.since, limit.until, {})
        )
        spent = _money_sum(_C.cost_usd)
        if limit.scope == "global":
            total = (await conn.execute(select(spent).where(*scoped))).scalar()
            out.append(BudgetLine(limit, total or _ZERO))
        elif limit.name == EACH:  # one line per subject that spent anything
            column = _C[limit.scope]
            query = select(column, spent).where(*scoped, column.is_not(None)).group_by(column)
            for name, total in (await conn.execute(query.order_by(column))).all():
                out.append(BudgetLine(replace(limit, name=name), total or _ZERO))
        else:
            query = select(spent).where(*scoped, _C[limit.scope] == limit.name)
            out.append(BudgetLine(limit, (await conn.execute(query)).scalar() or _ZERO))
    return out


async def _daily(conn: Any, conditions: list[Any]) -> list[DailySpend]:
    day = _day(conn.dialect.name).label("day")
    saved = case(
        (_C.cost_if_strongest_usd.is_not(None), _C.cost_if_strongest_usd - _C.cost_usd),
        else_=literal(0),
    )
    query = (
        select(day, _C.model, _money_sum(_C.cost_usd), _money_sum(saved))
        .where(*conditions)
        .group_by(day, _C.model)
        .order_by(day, _C.model)
    )
    return [
        DailySpend(str(row[0]), row[1], row[2] or _ZERO, row[3] or _ZERO)
        for row in (await conn.execute(query)).all()
    ]


async def aspend_report(
    engine: AsyncEngine,
    *,
    by: GroupBy = "model",
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    budgets: Sequence[BudgetLimit] = (),
) -> SpendReport:
    """Spend grouped ``by`` a column over ``[since, until)``, savings, budgets, daily series.

    ``where``: equality filters, e.g. ``{"org": "acme"}`` (user, org, project, role, model,
    provider, strategy).

    :raises ConfigError: an unknown ``by`` or filter column.
    """
    if by not in get_args(GroupBy):
        raise ConfigError(
            f"cannot group spend by {by!r}; use one of {', '.join(get_args(GroupBy))}"
        )
    conditions = _filters(since, until, where or {})
    async with engine.connect() as conn:
        return SpendReport(
            by=by,
            since=since,
            until=until,
            lines=await _lines(conn, by, conditions),
            savings=await _savings(conn, conditions),
            budgets=await _budgets(conn, budgets, conditions),
            daily=await _daily(conn, conditions),
        )


def spend_report(
    url: str,
    *,
    by: GroupBy = "model",
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    budgets: Sequence[BudgetLimit] = (),
) -> SpendReport:
    """:func:`aspend_report` on the ledger at ``url`` (sync; opens and closes its own engine)."""

    async def run() -> SpendReport:
        engine = make_engine(url)
        try:
            return await aspend_report(
                engine, by=by, since=since, until=until, where=where, budgets=budgets
            )
        finally:
            await engine.dispose()

    return asyncio.run(run())
