"""The contract every rate-limit store keeps: :class:`LimitStore`.

A store keeps one sliding-window counter (:mod:`modelmuxer.limits.window`) per :class:`Meter`
and offers three operations, each atomic across the meters it is given:

- ``acquire``: check every ask against its meter and, only if *all* of them fit, add the cost of
  those that ``take``; otherwise change nothing and say which one refused. There is no read
  before the write: the check happens where the write does.
- ``usage``: where meters stand, without changing them.
- ``add``: count what already happened (the tokens of a finished call), unconditionally.

Stores are synchronous: the pipeline hooks that call them are (a Redis call is one round trip,
bounded by its socket timeout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Ask", "LimitStore", "Meter", "Refusal", "WindowUsage"]


@dataclass(frozen=True, slots=True)
class Meter:
    """One limit's counter for one subject: ``amount`` per ``window_ms``, in ``buckets`` slices.

    ``key`` is unique per (scope, subject, kind, window, slicing), e.g.
    ``user:ann/requests/60000ms/20``: two limits that slice differently never share a counter.
    """

    key: str
    amount: int
    window_ms: int
    buckets: int

    @property
    def width_ms(self) -> int:
        """The length of one slice."""
        return max(1, math.ceil(self.window_ms / self.buckets))


@dataclass(frozen=True, slots=True)
class Ask:
    """Whether ``cost`` more fits on ``meter``; ``take`` adds it when every ask of the
    acquisition fits (``take=False`` only checks: the window is not spent)."""

    meter: Meter
    cost: int = 1
    take: bool = True


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """A meter's count in the window now, and how long until a given cost fits (0: it fits
    now; ``None``: it never can, the cost exceeds the amount)."""

    used: int
    retry_after_ms: int | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first ask of an acquisition that did not fit (its index) and its meter's usage."""

    index: int
    usage: WindowUsage


@runtime_checkable
class LimitStore(Protocol):
    """Where rate-limit counters live: one process (memory) or shared (Redis)."""

    def acquire(self, asks: Sequence[Ask], now_ms: int) -> Refusal | None:
        """Take every ``take`` ask's cost if all asks fit, atomically; else the refusal."""
        ...

    def usage(self, asks: Sequence[Ask], now_ms: int) -> list[WindowUsage]:
        """Each ask's meter's usage and wait for its cost (nothing is changed)."""
        ...

    def add(self, counts: Sequence[tuple[Meter, int]], now_ms: int) -> None:
        """Add each count to its meter, unconditionally."""
        ...

    def close(self) -> None:
        """Close connections (the store reconnects if used again)."""
        ...
