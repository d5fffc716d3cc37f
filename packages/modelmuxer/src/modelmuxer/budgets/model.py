"""What a budget is: a USD limit for a scope (user, org, project, global) over a period.

Periods are calendar windows in UTC: ``day`` starts at midnight, ``month`` on the first at
midnight, ``total`` never resets. Each window has its own counter, so a period reset is simply
the first reservation in a new window; nothing has to run at midnight.

Amounts are exact decimals quantized to the nano-dollar (``1e-9`` USD, :data:`QUANTUM`) in every
store: small enough for the cheapest token (``$0.15`` per million tokens is 150 nano-dollars)
and exact as integers in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelmuxer.types import Identity

__all__ = [
    "EACH",
    "QUANTUM",
    "Budget",
    "BudgetPeriod",
    "BudgetScope",
    "BudgetState",
    "Counter",
    "CounterUsage",
    "Window",
    "nano_ceil",
    "to_usd",
    "window_of",
]

BudgetScope = Literal["user", "org", "project", "global"]
BudgetPeriod = Literal["day", "month", "total"]

#: A subject of ``"*"`` means "each user / org / project separately, with this limit".
EACH = "*"
#: The unit every store counts in: one nano-dollar.
QUANTUM = Decimal("0.000000001")
#: The largest limit: amounts are exact decimals of nano-dollars (28 significant digits), and
#: sums of spent, reserved and a new amount must stay exact beside it.
MAX_LIMIT_USD = Decimal("1e15")


def to_usd(amount: float | Decimal | str) -> Decimal:
    """An amount in USD as an exact decimal, rounded half-even to :data:`QUANTUM`."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def nano_ceil(amount: float | Decimal) -> Decimal:
    """An amount rounded *up* to :data:`QUANTUM`: what a reservation holds (never too little)."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return value.quantize(QUANTUM, rounding=ROUND_CEILING)


class Budget(BaseModel):
    """A spending limit.

    ``subject`` names the user / org / project it limits; ``"*"`` gives each of them its own
    counter with this limit (a budget naming a subject explicitly wins over ``"*"`` for that
    subject). A ``global`` budget has no subject and counts every request. A request whose
    identity lacks the scope's field (no ``user``, say) is not limited by that scope's budgets.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: BudgetScope = Field(description="whose spending: user, org, project or global")
    subject: str | None = Field(
        default=None, min_length=1, description="the id it limits, '*' for each; none: global"
    )
    period: BudgetPeriod = Field(default="month", description="the window the limit resets on")
    limit_usd: Decimal = Field(
        ge=0, le=MAX_LIMIT_USD, description="the limit in USD per period (exact decimal)"
    )

    @model_validator(mode="after")
    def _subject_matches_scope(self) -> Budget:
        if self.scope == "global" and self.subject is not None:
            raise ValueError("a global budget has no subject")
        if self.scope != "global" and self.subject is None:
            raise ValueError(f"a {self.scope} budget needs a subject (an id, or '*' for each)")
        return self

    @property
    def name(self) -> str:
        """``org:acme/day``, ``user:*/month``, ``global/total``."""
        who = self.scope if self.subject is None else f"{self.scope}:{self.subject}"
        return f"{who}/{self.period}"

    @property
    def limit(self) -> Decimal:
        """The limit quantized to :data:`QUANTUM`."""
        return to_usd(self.limit_usd)

    def subject_of(self, identity: Identity) -> str | None:
        """The concrete subject this budget limits for ``identity``, or ``None`` if it does not
        apply (``"global"`` for a global budget)."""
        if self.scope == "global":
            return "global"
        value: str | None = getattr(identity, self.scope)
        if value is None or (self.subject != EACH and self.subject != value):
            return None
        return value


@dataclass(frozen=True, slots=True)
class Window:
    """One period window: ``[start, end)`` in UTC; ``end`` is ``None`` for ``total``."""

    label: str
    start: datetime | None
    end: datetime | None


def window_of(period: BudgetPeriod, now: datetime) -> Window:
    """The window of ``period`` containing ``now`` (a timezone-aware datetime)."""
    now = now.astimezone(UTC)
    if period == "total":
        return Window("total", None, None)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(start.strftime("%Y-%m-%d"), start, start + timedelta(days=1))
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return Window(start.strftime("%Y-%m"), start, end)


@dataclass(frozen=True, slots=True)
class Counter:
    """One budget's counter for one subject and window: what a store reserves against.

    ``key`` is unique per (scope, subject, period, window), e.g. ``org:acme/day/2026-11-26``.
    ``expires_at`` (end of the window, ``None`` for ``total``) lets stores expire old counters.
    """

    key: str
    limit: Decimal
    expires_at: datetime | None

    @classmethod
    def of(cls, budget: Budget, subject: str, window: Window) -> Counter:
        who = "global" if budget.scope == "global" else f"{budget.scope}:{subject}"
        return cls(f"{who}/{budget.period}/{window.label}", budget.limit, window.end)


@dataclass(frozen=True, slots=True)
class CounterUsage:
    """A counter's spent and reserved amounts (USD, exact)."""

    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Where one budget stands for one subject in the current window."""

    budget: Budget
    subject: str
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    resets_at: datetime | None

    @property
    def remaining_usd(self) -> Decimal:
        """What may still be reserved (never negative)."""
        return max(self.limit_usd - self.spent_usd - self.reserved_usd, Decimal(0))

    @property
    def remaining_fraction(self) -> float:
        """``remaining / limit`` in [0, 1] (0 for a zero limit)."""
        if self.limit_usd <= 0:
            return 0.0
        return float(self.remaining_usd / self.limit_usd)
