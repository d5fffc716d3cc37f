"""Per-model circuit breakers: a model that keeps failing leaves the candidates for a while.

:class:`BreakerRegistry` keeps one breaker per model of a muxer. The pipeline tells it the
outcome of every call; after :attr:`BreakerSettings.failures` failures within ``window_s`` (no
success in between) a model's breaker opens, and routing excludes the model with a reason
starting ``circuit open``. After ``cooldown_s`` the breaker is half-open: routing may choose
the model again and the first call to it is a probe; its success closes the breaker, its
failure opens it again. A call that routing chose before the breaker opened is refused at call
time (:class:`~modelmuxer.errors.CircuitOpen`) and falls back like a failure.

The exclusion is a ``modelmuxer_filter_candidates`` plugin (:class:`BreakerFilter`) that the
registry registers on the muxer's plugin manager only while some breaker is not closed: while
every model is healthy it costs nothing, and the routing-decision cache (bypassed whenever a
filter is registered) keeps working.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pluggy

from modelmuxer.errors import CircuitOpen
from modelmuxer.events import emit
from modelmuxer.hookspecs import hookimpl
from modelmuxer.reliability.settings import BreakerSettings, ErrorKind

if TYPE_CHECKING:
    from modelmuxer.context import RequestContext
    from modelmuxer.types import ModelCard

__all__ = ["BreakerFilter", "BreakerRegistry", "BreakerState"]

BreakerState = Literal["closed", "open", "half-open"]

#: the name the exclusion plugin is registered under while a breaker is not closed
FILTER_NAME = "modelmuxer.breakers.filter"


@dataclass(slots=True)
class _Breaker:
    """One model's breaker (the registry's lock guards it)."""

    failures: deque[float] = field(default_factory=deque)  # when each recent failure happened
    opened_at: float | None = None
    opened_by: int = 0  # failures in the window when it opened
    last_kind: ErrorKind | None = None
    probing: bool = False
    announced_half_open: bool = False


#: the recent-calls window is counted in this many slices (it spans 90-100 % of its length)
_SLICES = 10


class _Tally:
    """Calls and failures of one model per time slice, the last ``_SLICES`` slices (the
    registry's lock guards it): what :meth:`BreakerRegistry.recent` adds up."""

    __slots__ = ("slices",)

    def __init__(self) -> None:
        self.slices: deque[list[int]] = deque()  # [slice number, calls, failures]

    def add(self, now_slice: int, failed: bool) -> None:
        slices = self.slices
        if not slices or slices[-1][0] != now_slice:
            slices.append([now_slice, 0, 0])
            while slices[0][0] <= now_slice - _SLICES:
                slices.popleft()
        last = slices[-1]
        last[1] += 1
        last[2] += failed

    def total(self, now_slice: int) -> tuple[int, int]:
        recent = [s for s in self.slices if s[0] > now_slice - _SLICES]
        return sum(s[1] for s in recent), sum(s[2] for s in recent)


class BreakerRegistry:
    """The circuit breakers of one muxer's models (``muxer.breakers``).

    The pipeline calls :meth:`acquire` before each call and then exactly one of
    :meth:`succeeded`, :meth:`failed` or :meth:`abandoned`. Transitions are broadcast as the
    events ``breaker.opened``, ``breaker.half_open`` and ``breaker.closed``. Safe to use from
    several threads (the sync API runs calls on its own loop).

    It also counts each model's calls and failures over the last ``stats_window_s`` seconds
    (:meth:`recent`, what ``muxer.health()`` reports): every call that succeeded or failed,
    whatever the error's kind; calls abandoned (cancelled, refused by a budget) are not counted.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        stats_window_s: float = 300.0,
    ) -> None:
        self.settings = settings
        #: the window of :meth:`recent`, seconds
        self.stats_window_s = stats_window_s
        self._slice_s = stats_window_s / _SLICES
        self._tallies: dict[str, _Tally] = {}
        self._pm = pm
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}
        self._lock = threading.RLock()  # re-entrant: event listeners may ask for states
        self._filter = BreakerFilter(self)

    # -- state ----------------------------------------------------------------------------------

    def state(self, model: str, ctx: RequestContext | None = None) -> BreakerState:
        """The state of ``model``'s breaker now (``closed`` for a model never seen failing)."""
        with self._lock:
            breaker = self._breakers.get(model)
            return "closed" if breaker is None else self._state(model, breaker, ctx)

    def states(self) -> dict[str, BreakerState]:
        """Every model whose breaker is not closed, with its state."""
        with self._lock:
            states = {m: self._state(m, b, None) for m, b in self._breakers.items()}
        return {m: s for m, s in states.items() if s != "closed"}

    def recent(self, model: str) -> tuple[int, int]:
        """``(calls, failures)`` of ``model`` within the last :attr:`stats_window_s` seconds."""
        with self._lock:
            tally = self._tallies.get(model)
            return (0, 0) if tally is None else tally.total(self._slice())

    def exclusions(self, ctx: RequestContext | None, models: Sequence[str]) -> dict[str, str]:
        """``{model: reason}`` for the ``models`` routing must leave out now."""
        out: dict[str, str] = {}
        with self._lock:
            for model in models:
                breaker = self._breakers.get(model)
                if breaker is None:
                    continue
                state = self._state(model, breaker, ctx)
                if state == "open":
                    out[model] = self._open_reason(breaker)
                elif state == "half-open" and breaker.probing:
                    out[model] = "circuit half-open: a probe call to it is in flight"
        return out

    # -- around each call -----------------------------------------------------------------------

    def acquire(self, model: str, ctx: RequestContext | None = None) -> None:
        """Before a call to ``model``: let it through (a half-open breaker's call is its probe).

        :raises CircuitOpen: the breaker is open, or half-open with a probe already in flight.
        """
        with self._lock:
            breaker = self._breakers.get(model)
            if breaker is None:
                return
            state = self._state(model, breaker, ctx)
            if state == "closed":
                return
            if state == "half-open" and not breaker.probing:
                breaker.probing = True
                return
            retry_in = 0.0 if state == "half-open" else self._retry_in(breaker)
            raise CircuitOpen(model=model, failures=breaker.opened_by, retry_in_s=retry_in)

    def succeeded(self, model: str, ctx: RequestContext | None = None) -> None:
        """A call to ``model`` got its answer: the breaker forgets failures and closes."""
        with self._lock:
            self._count(model, failed=False)
            breaker = self._breakers.get(model)
            if breaker is None:
                return
            breaker.failures.clear()
            breaker.probing = False
            if breaker.opened_at is None:
                return
            breaker.opened_at = None
            breaker.announced_half_open = False
        emit(self._pm, "breaker.closed", ctx, model=model)
        self._sync_filter()

    def failed(self, model: str, kind: ErrorKind, ctx: RequestContext | None = None) -> None:
        """A call to ``model`` failed with an error of ``kind``.

        Kinds outside ``settings.count`` (a bad request, a prompt too long) say nothing about
        the model's health: they only end a probe, as :meth:`abandoned` does.
        """
        if kind not in self.settings.count:
            with self._lock:
                self._count(model, failed=True)
            self.abandoned(model)
            return
        now = self._clock()
        with self._lock:
            self._count(model, failed=True)
            breaker = self._breakers.setdefault(model, _Breaker())
            window = breaker.failures
            window.append(now)
            while window and now - window[0] > self.settings.window_s:
                window.popleft()
            breaker.last_kind = kind
            probe_failed = breaker.probing
            opens = probe_failed or (
                breaker.opened_at is None and len(window) >= self.settings.failures
            )
            if not opens:
                return
            breaker.opened_at = now
            breaker.opened_by = len(window)
            breaker.probing = False
            breaker.announced_half_open = False
            failures = len(window)
        emit(self._pm, "breaker.opened", ctx, model=model, failures=failures)
        self._sync_filter()

    def abandoned(self, model: str) -> None:
        """A call to ``model`` ended without telling whether it is healthy (cancelled, or a
        failure that is the request's fault): a probe slot it held is free again."""
        with self._lock:
            breaker = self._breakers.get(model)
            if breaker is not None:
                breaker.probing = False

    # -- internals ------------------------------------------------------------------------------

    def _slice(self) -> int:
        return int(self._clock() // self._slice_s)

    def _count(self, model: str, *, failed: bool) -> None:
        """Tally one finished call (the lock is held)."""
        tally = self._tallies.get(model)
        if tally is None:
            tally = self._tallies[model] = _Tally()
        tally.add(self._slice(), failed)

    def _state(self, model: str, breaker: _Breaker, ctx: RequestContext | None) -> BreakerState:
        if breaker.opened_at is None:
            return "closed"
        if self._clock() - breaker.opened_at < self.settings.cooldown_s:
            return "open"
        if not breaker.announced_half_open:
            breaker.announced_half_open = True
            emit(self._pm, "breaker.half_open", ctx, model=model)
        return "half-open"

    def _retry_in(self, breaker: _Breaker) -> float:
        opened = breaker.opened_at if breaker.opened_at is not None else self._clock()
        return max(self.settings.cooldown_s - (self._clock() - opened), 0.0)

    def _open_reason(self, breaker: _Breaker) -> str:
        return (
            f"circuit open: {breaker.opened_by} failures within {self.settings.window_s:g} s "
            f"(last: {breaker.last_kind}); a probe is let through in "
            f"{self._retry_in(breaker):.1f} s"
        )

    def _sync_filter(self) -> None:
        """Register the exclusion plugin while any breaker is not closed, and only then."""
        with self._lock:  # held throughout: two threads must not both register it
            needed = any(b.opened_at is not None for b in self._breakers.values())
            registered = self._pm.get_plugin(FILTER_NAME) is not None
            if needed and not registered:
                self._pm.register(self._filter, name=FILTER_NAME)
            elif registered and not needed:
                self._pm.unregister(name=FILTER_NAME)


class BreakerFilter:
    """The ``modelmuxer_filter_candidates`` plugin that excludes models whose breaker is open
    (or half-open with its probe in flight)."""

    def __init__(self, registry: BreakerRegistry) -> None:
        self.registry = registry

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        """Exclude the candidates whose breaker is open, with the reason."""
        return self.registry.exclusions(ctx, [c.id for c in candidates]) or None
