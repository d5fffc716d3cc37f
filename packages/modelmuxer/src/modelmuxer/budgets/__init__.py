"""USD budgets per user, org, project or globally, per day, month or in total.

Before each model call its worst-case cost is reserved on every budget that applies, atomically
(all or nothing); after it the reservation is settled to the actual cost, or released on error
or cancellation. Counters live in memory (one process), Redis or PostgreSQL (many processes).
See ``docs/budgets.md``.
"""

from __future__ import annotations

from modelmuxer.budgets.base import BudgetStore, Clock, CounterFull, Reservation, system_clock
from modelmuxer.budgets.guard import BudgetGuard, BudgetLine
from modelmuxer.budgets.memory import MemoryBudgetStore
from modelmuxer.budgets.model import (
    EACH,
    QUANTUM,
    Budget,
    BudgetPeriod,
    BudgetScope,
    BudgetState,
    Counter,
    CounterUsage,
    Window,
    window_of,
)
from modelmuxer.budgets.settings import BudgetSettings

__all__ = [
    "EACH",
    "QUANTUM",
    "Budget",
    "BudgetGuard",
    "BudgetLine",
    "BudgetPeriod",
    "BudgetScope",
    "BudgetSettings",
    "BudgetState",
    "BudgetStore",
    "Clock",
    "Counter",
    "CounterFull",
    "CounterUsage",
    "MemoryBudgetStore",
    "Reservation",
    "Window",
    "system_clock",
    "window_of",
]
