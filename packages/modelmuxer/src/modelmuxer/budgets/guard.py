"""The budget guard: the set of budgets, reserve / settle / release, and where budgets stand."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from modelmuxer._breaker import CircuitBreaker
from modelmuxer._shared import SharedState, Unavailable
from modelmuxer.budgets import _pipeline
from modelmuxer.budgets._retry import Unsettled
from modelmuxer.budgets.base import BudgetStore, Clock, CounterFull, Reservation, system_clock
from modelmuxer.budgets.memory import MemoryBudgetStore
from modelmuxer.budgets.model import (
    EACH,
    Budget,
    BudgetPeriod,
    BudgetState,
    Counter,
    CounterUsage,
    Window,
    nano_ceil,
    to_usd,
    window_of,
)
from modelmuxer.errors import BudgetExceeded, SharedStateUnavailable
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import Identity, ModelCard
from modelmuxer.types.request import new_request_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import pluggy

    from modelmuxer.backends.base import ModelCall, ModelResponse, StreamDelta
    from modelmuxer.budgets.settings import BudgetSettings
    from modelmuxer.config import MuxerSettings
    from modelmuxer.context import RequestContext

__all__ = ["BudgetGuard", "BudgetLine"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.budgets")
#: counters whose last-seen usage is kept for routing
_MAX_SEEN = 10_000
#: identities whose resolved lines are kept (the rest are worked out afresh)
_MAX_RESOLVED = 10_000
#: how far inside its windows the clock must be for resolved lines to be reused as they are
#: (closer to an edge they are worked out afresh: a timestamp's rounding to the microsecond
#: cannot move it across the edge then)
_EDGE_S = 0.001


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget as it applies to one request: the concrete subject, window and counter."""

    budget: Budget
    subject: str
    window: Window
    counter: Counter

    def state(self, usage: CounterUsage) -> BudgetState:
        return BudgetState(
            budget=self.budget,
            subject=self.subject,
            limit_usd=self.counter.limit,
            spent_usd=usage.spent,
            reserved_usd=usage.reserved,
            resets_at=self.window.end,
        )

    def exceeded(self, usage: CounterUsage, needed: Decimal, model: str | None) -> BudgetExceeded:
        budget = self.budget
        return BudgetExceeded(
            budget=f"{budget.scope}:{self.subject}/{budget.period}"
            if budget.scope != "global"
            else budget.name,
            scope=budget.scope,
            subject=None if budget.scope == "global" else self.subject,
            period=budget.period,
            limit_usd=self.counter.limit,
            spent_usd=usage.spent,
            reserved_usd=usage.reserved,
            needed_usd=needed,
            resets_at=self.window.end,
            model=model,
        )


@dataclass(frozen=True, slots=True)
class _Resolved:
    """The lines of one identity under the set of ``budgets``, valid while the clock (epoch
    seconds) is in ``[after, before)``: inside every line's window, :data:`_EDGE_S` from its
    edges."""

    budgets: tuple[Budget, ...]
    after: float
    before: float
    lines: tuple[BudgetLine, ...]


class BudgetGuard:
    """Enforces USD budgets around every model call; a pluggy plugin.

    As a plugin it reserves each call's worst-case cost before the call and settles the actual
    cost after it (``modelmuxer_call_model`` / ``modelmuxer_stream_model`` wrappers), excludes
    candidates a budget cannot cover and, as a budget runs low, raises the request's
    ``cost_weight`` and lowers its ``quality_target`` (``modelmuxer_filter_candidates``,
    ``modelmuxer_request_start``); the shift is noted in the decision's reason.

    Build it with a store and budgets, register it on a muxer (``Muxer`` does so when
    ``settings.budgets`` is set, as ``muxer.budgets``)::

        guard = BudgetGuard(MemoryBudgetStore(), [Budget(scope="org", subject="*",
                                                         period="day", limit_usd="5")])
        muxer = Muxer(models, plugins=[guard])

    The budgets can change at run time (:meth:`set_budget`, :meth:`remove_budget`); the
    change is local to this guard (each process configures its own; the counters are shared
    through the store). Code that calls models outside the pipeline (an adapter) brackets each
    call with :meth:`reserve` and :meth:`settle` / :meth:`release`.

    :param lease_s: how long a reservation is held at most; it must outlast the slowest call.
        A process that dies holding one loses it to reclamation after this long.
    :param low_water: below this fraction of a budget left, routing leans towards cost.
    :param cost_weight: / :param quality_target: the muxer's routing settings, the starting
        point of the shift towards cost.
    :param shared: the bounded, breaker-guarded access to a shared store and its
        ``on_unavailable`` rule (``None``: calls go to the store as they are). With rule
        ``open`` a call is let through unbudgeted while the store is unreachable; with
        ``closed`` it is refused with :class:`~modelmuxer.errors.SharedStateUnavailable`. A
        settlement that cannot reach the store is retried until it does (or the guard closes).
    """

    def __init__(
        self,
        store: BudgetStore,
        budgets: Iterable[Budget] = (),
        *,
        lease_s: float = 600.0,
        low_water: float = 0.5,
        cost_weight: float = 0.35,
        quality_target: float = 0.8,
        clock: Clock = system_clock,
        shared: SharedState | None = None,
    ) -> None:
        self.store = store
        self.shared = shared
        self.lease_s = lease_s
        self.low_water = low_water
        self.cost_weight = cost_weight
        self.quality_target = quality_target
        self._clock = clock
        self._budgets: dict[str, Budget] = {}
        #: the budgets as a tuple, replaced at each change: lines resolved under another are stale
        self._all: tuple[Budget, ...] = ()
        #: lines per identity (user, org, project), reused until a window or a budget changes
        self._resolved: dict[tuple[str | None, ...], _Resolved] = {}
        self._windows: dict[str, Window] = {}  # the current window of each period
        self._resolved_lock = threading.Lock()
        self._seen: dict[str, CounterUsage] = {}  # last usage seen per counter key (routing)
        self._background: set[asyncio.Task[Any]] = set()
        #: settle / release operations the shared store missed, retried until it answers
        self._unsettled = Unsettled(shared, self._spawn) if shared is not None else None
        for budget in budgets:
            self.set_budget(budget)

    @classmethod
    def from_settings(
        cls,
        budgets: BudgetSettings,
        muxer: MuxerSettings | None = None,
        *,
        events: pluggy.PluginManager | None = None,
    ) -> BudgetGuard:
        """The guard ``budgets`` describes, leaning from ``muxer``'s routing settings;
        ``events``: where ``shared_state.unavailable`` is emitted."""
        return cls(
            budgets.build_store(tls=None if muxer is None else muxer.tls),
            budgets.budgets,
            lease_s=budgets.lease_s,
            low_water=budgets.low_water,
            cost_weight=0.35 if muxer is None else muxer.cost_weight,
            quality_target=0.8 if muxer is None else muxer.quality_target,
            shared=_shared_state(budgets, events),
        )

    # -- the set of budgets -------------------------------------------------------------------

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """Every budget, in the order they were set."""
        return self._all

    def set_budget(self, budget: Budget | None = None, **fields: Any) -> Budget:
        """Add a budget or replace the one with the same name (scope, subject, period).

        Pass a :class:`Budget` or its fields: ``set_budget(scope="org", subject="acme",
        period="day", limit_usd="5")``.
        """
        if budget is None:
            budget = Budget.model_validate(fields)
        self._budgets[budget.name] = budget
        self._all = tuple(self._budgets.values())
        return budget

    def remove_budget(self, name: str) -> Budget:
        """Remove the budget named ``name`` (``org:acme/day``); its counters are kept.

        :raises KeyError: no such budget (the message lists them).
        """
        try:
            removed = self._budgets.pop(name)
        except KeyError:
            raise KeyError(f"no budget {name!r}; budgets: {sorted(self._budgets)}") from None
        self._all = tuple(self._budgets.values())
        return removed

    def lines(self, identity: Identity) -> list[BudgetLine]:
        """The budgets that limit a request by ``identity`` now (a named subject beats ``*``).

        Worked out once per identity and reused until a budget is set or removed, or the clock
        leaves one of the lines' windows.
        """
        clock = self._clock()
        budgets = self._all
        key = (identity.user, identity.org, identity.project)
        resolved = self._resolved.get(key)
        if (
            resolved is None
            or resolved.budgets is not budgets
            or not resolved.after <= clock < resolved.before
        ):
            resolved = self._resolve(identity, budgets, datetime.fromtimestamp(clock, UTC))
            with self._resolved_lock:
                self._resolved.pop(key, None)  # re-inserted last: the dict is oldest-first
                self._resolved[key] = resolved
                while len(self._resolved) > _MAX_RESOLVED:
                    del self._resolved[next(iter(self._resolved))]
        return list(resolved.lines)

    def _resolve(self, identity: Identity, budgets: tuple[Budget, ...], now: datetime) -> _Resolved:
        """The lines of ``identity`` under ``budgets`` at ``now``, worked out afresh."""
        chosen: dict[tuple[str, str], tuple[Budget, str]] = {}
        for budget in budgets:
            subject = budget.subject_of(identity)
            if subject is None:
                continue
            slot = (budget.scope, budget.period)
            if slot not in chosen or chosen[slot][0].subject == EACH:
                chosen[slot] = (budget, subject)
        lines = []
        after, before = -math.inf, math.inf
        for budget, subject in chosen.values():
            window = self._window(budget.period, now)
            lines.append(BudgetLine(budget, subject, window, Counter.of(budget, subject, window)))
            if window.start is not None:
                after = max(after, window.start.timestamp() + _EDGE_S)
            if window.end is not None:
                before = min(before, window.end.timestamp() - _EDGE_S)
        return _Resolved(budgets, after, before, tuple(lines))

    def _window(self, period: BudgetPeriod, now: datetime) -> Window:
        """The window of ``period`` containing ``now``; kept until the clock leaves it."""
        window = self._windows.get(period)
        if (
            window is None
            or (window.start is not None and now < window.start)
            or (window.end is not None and now >= window.end)
        ):
            window = window_of(period, now)
            self._windows[period] = window
        return window

    # -- reserve / settle / release -----------------------------------------------------------

    async def reserve(
        self,
        identity: Identity,
        model: ModelCard | str | None,
        worst_case_usd: float | Decimal,
        ctx: RequestContext | None = None,
    ) -> Reservation:
        """Reserve ``worst_case_usd`` on every budget that limits ``identity``, atomically.

        Settle or release the reservation exactly once. With no budget applying, or while the
        store is unreachable and ``on_unavailable`` is ``open``, the reservation is empty and
        touches no store. ``ctx``: the request, for the events emitted.

        :raises BudgetExceeded: a budget cannot cover it; nothing was reserved.
        :raises SharedStateUnavailable: the store is unreachable and ``on_unavailable`` is
            ``closed``.
        """
        lines = self.lines(identity)
        amount = nano_ceil(worst_case_usd)
        rid = new_request_id()  # unique across processes, as uuid4 but cheaper
        if not lines:
            return Reservation(rid, (), amount, math.inf)
        counters = tuple(line.counter for line in lines)
        lost = Reservation(rid, counters, amount, math.inf)
        try:
            reservation = await self._io(
                lambda: self.store.reserve(rid, counters, amount, self.lease_s)
            )
        except CounterFull as full:
            self._seen[full.counter.key] = full.usage
            line = next(x for x in lines if x.counter.key == full.counter.key)
            name = model.id if isinstance(model, ModelCard) else model
            raise line.exceeded(full.usage, amount, name) from None
        except Unavailable as exc:
            assert self.shared is not None  # only a shared store is ever unavailable
            assert self._unsettled is not None
            if not exc.skipped:  # it may have been made before the timeout: give it back
                self._unsettled.add(lambda: self.store.release(lost), f"release of {rid}")
            self.shared.unavailable(exc, ctx)
            return Reservation(rid, (), amount, math.inf)  # rule 'open': unbudgeted
        except asyncio.CancelledError:
            # the reservation may have been made: give it back, retried like a settlement
            # while the store does not answer (the store may be why the caller gave up)
            label = f"release of reservation {rid}"
            self._spawn(self._settlement(lambda: self.store.release(lost), label), label)
            raise
        self._remember(counters, reservation.usage)
        return reservation

    async def settle(self, reservation: Reservation, actual_usd: float | Decimal) -> None:
        """Charge the actual cost and drop the reservation (shielded from cancellation)."""
        if reservation.counters:
            actual = to_usd(actual_usd)
            await self._finish(
                reservation, lambda: self.store.settle(reservation, actual), "settle"
            )

    async def release(self, reservation: Reservation) -> None:
        """Drop the reservation without charging anything (shielded from cancellation)."""
        if reservation.counters:
            await self._finish(reservation, lambda: self.store.release(reservation), "release")

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        """Lean towards cost as the tightest budget of the request runs low."""
        _pipeline.lean_towards_cost(self, ctx)

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        """Exclude models whose worst case exceeds what a budget has left."""
        return _pipeline.exclude_unaffordable(self, ctx, candidates)

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        """Reserve the worst case before the call, settle the actual cost after it."""
        inner = yield
        if not self._budgets:
            return inner
        return _pipeline.guarded_call(self, ctx, call, inner)

    @hookimpl(wrapper=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
        """As for calls; a stream settles at its end, also when the consumer stops early."""
        inner = yield
        if not self._budgets:
            return inner
        return _pipeline.guarded_stream(self, ctx, call, inner)

    # -- where budgets stand ------------------------------------------------------------------

    async def state(self, name: str, subject: str | None = None) -> BudgetState:
        """The current window of budget ``name`` (``subject`` is required for a ``*`` budget)."""
        budget = self._budgets.get(name)
        if budget is None:
            raise KeyError(f"no budget {name!r}; budgets: {sorted(self._budgets)}")
        concrete = subject or budget.subject or "global"
        if concrete == EACH:
            raise ValueError(f"budget {name} applies to each {budget.scope}: name the subject")
        window = self._window(budget.period, datetime.fromtimestamp(self._clock(), UTC))
        line = BudgetLine(budget, concrete, window, Counter.of(budget, concrete, window))
        return (await self._states([line]))[0]

    async def states(self, identity: Identity | None = None) -> list[BudgetState]:
        """Every budget limiting ``identity``, or (without one) every budget that names its
        subject or is global; ``*`` budgets need an identity to have a subject."""
        if identity is not None:
            return await self._states(self.lines(identity))
        now = datetime.fromtimestamp(self._clock(), UTC)
        lines = []
        for budget in self._budgets.values():
            if budget.subject == EACH:
                continue
            subject = budget.subject or "global"
            window = self._window(budget.period, now)
            lines.append(BudgetLine(budget, subject, window, Counter.of(budget, subject, window)))
        return await self._states(lines)

    def last_seen(self, identity: Identity) -> list[BudgetState]:
        """Like :meth:`states` but from the usage this guard last saw (no I/O; may lag other
        processes). Routing uses it; only the store's reservation is authoritative."""
        return [
            line.state(self._seen.get(line.counter.key, CounterUsage()))
            for line in self.lines(identity)
        ]

    async def aclose(self) -> None:
        """Wait for pending settlements (one last try for those the store missed), then close
        the store."""
        if self._unsettled is not None:
            await self._unsettled.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._unsettled:
            _log.error(
                "budgets: %d settlements never reached the store; their reservations are "
                "released when their leases end, without the cost",
                len(self._unsettled),
            )
        if self.shared is None:
            await self.store.aclose()
        else:
            await self.shared.aclose(self.store.aclose)

    # -- internals ----------------------------------------------------------------------------

    async def _io(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a store operation, bounded and behind the breaker when the store is shared.

        :raises Unavailable: the shared store did not answer.
        """
        if self.shared is None:
            return await operation()
        return await self.shared.acall(operation)

    async def _states(self, lines: Sequence[BudgetLine]) -> list[BudgetState]:
        counters = [line.counter for line in lines]
        try:
            usage = await self._io(lambda: self.store.usage(counters)) if counters else ()
        except Unavailable as exc:
            assert self.shared is not None
            raise SharedStateUnavailable(
                component="budgets", backend=self.shared.backend, retry_after_s=exc.retry_after_s
            ) from None
        self._remember(counters, usage)
        return [line.state(u) for line, u in zip(lines, usage, strict=True)]

    def _remember(self, counters: Sequence[Counter], usage: Sequence[CounterUsage]) -> None:
        seen = self._seen
        for counter, now in zip(counters, usage, strict=False):
            seen.pop(counter.key, None)  # re-inserted last: the dict is oldest-first
            seen[counter.key] = now
        while len(seen) > _MAX_SEEN:  # many subjects over many windows: forget the stalest
            del seen[next(iter(seen))]

    async def _finish(
        self,
        reservation: Reservation,
        operation: Callable[[], Awaitable[tuple[CounterUsage, ...]]],
        what: str,
    ) -> None:
        """Run a settle / release to its end even if the caller is cancelled meanwhile; one
        that cannot reach the store is retried later."""
        label = f"{what} of reservation {reservation.id}"
        if self.shared is None and type(self.store) is MemoryBudgetStore:
            # its operations never suspend, so no cancellation can land mid-way: no task needed
            try:
                usage: tuple[CounterUsage, ...] | None = await operation()
            except Exception as error:  # as _spawn logs it; the lease reclaims the reservation
                _log.error("budget %s failed: %r", label, error)
                return
        else:
            usage = await self._shielded(operation, label)
        if usage is not None:
            self._remember(reservation.counters, usage)

    async def _shielded(
        self, operation: Callable[[], Awaitable[tuple[CounterUsage, ...]]], label: str
    ) -> tuple[CounterUsage, ...] | None:
        """The operation run in a task of its own, whatever happens to the caller (``None``:
        it failed, logged by :meth:`_spawn`, or was left to retry)."""
        task = self._spawn(self._settlement(operation, label), label)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged by _spawn; the lease reclaims the reservation
            return None

    async def _settlement(
        self, operation: Callable[[], Awaitable[tuple[CounterUsage, ...]]], label: str
    ) -> tuple[CounterUsage, ...] | None:
        try:
            return await self._io(operation)
        except Unavailable as exc:
            assert self.shared is not None
            assert self._unsettled is not None
            self._unsettled.add(operation, label)
            self.shared.unavailable(exc, refusable=False)
            return None

    def _spawn(self, operation: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        """A task that runs to its end whatever happens to its caller; failures are logged
        (a failed release or settle is not lost: the reservation's lease reclaims it)."""
        task = asyncio.ensure_future(operation)
        self._background.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and (error := finished.exception()) is not None:
                _log.error("budget %s failed: %r", what, error)

        task.add_done_callback(done)
        return task


def _shared_state(
    settings: BudgetSettings, events: pluggy.PluginManager | None
) -> SharedState | None:
    """The bounded, breaker-guarded access to the store ``settings`` name (``None`` for one
    in memory)."""
    kind = settings.backend_kind
    if kind == "redis":
        from modelmuxer.budgets.redis import unavailable_errors
    elif kind == "postgresql":
        from modelmuxer.budgets.postgres import unavailable_errors
    else:  # memory (an unknown backend never gets here: build_store refused it)
        return None
    breaker = CircuitBreaker(
        failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
    )
    return SharedState(
        "budgets",
        kind,
        timeout_s=settings.timeout_s,
        breaker=breaker,
        errors=unavailable_errors(),
        rule=settings.on_unavailable,
        events=events,
        own_loop=True,
    )
