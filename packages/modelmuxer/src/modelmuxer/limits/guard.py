"""The rate limiter: which limits apply, admission, model exclusions, and counting tokens."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from modelmuxer._breaker import CircuitBreaker
from modelmuxer._shared import SharedState, Unavailable
from modelmuxer.errors import ConfigError, RateLimited, SharedStateUnavailable
from modelmuxer.events import emit
from modelmuxer.hookspecs import hookimpl
from modelmuxer.limits.base import Ask, LimitStore, Meter, WindowUsage
from modelmuxer.limits.settings import EACH, Limit
from modelmuxer.types import CallRecord, Identity, ModelCard

if TYPE_CHECKING:
    import pluggy

    from modelmuxer.context import RequestContext
    from modelmuxer.limits.settings import LimitSettings
    from modelmuxer.transport import RedisTLS

__all__ = ["LimitLine", "LimitState", "RateLimiter"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.limits")
#: groups of counts kept while the store is unreachable, replayed when it answers again
_MAX_PENDING = 1000
#: identities and models whose resolved lines are kept (the rest are worked out afresh)
_MAX_RESOLVED = 10_000


@dataclass(frozen=True, slots=True)
class LimitState:
    """Where one limit stands for one subject: ``used`` of ``limit.amount`` in the window now,
    and ``retry_after_s`` until one more request (or token) fits (0: it fits now)."""

    limit: Limit
    subject: str
    used: int
    retry_after_s: float

    @property
    def remaining(self) -> int:
        """What the window still admits (never negative)."""
        return max(self.limit.amount - self.used, 0)


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One limit as it applies to one request or model: the concrete subject and its meter."""

    limit: Limit
    subject: str
    meter: Meter

    def refused(self, usage: WindowUsage) -> RateLimited:
        """The :class:`~modelmuxer.errors.RateLimited` of a refusal with ``usage``."""
        limit = self.limit
        return RateLimited(
            scope=limit.scope,
            subject=None if limit.scope == "global" else self.subject,
            kind=limit.kind,
            limit=limit.amount,
            window_s=limit.window_s,
            retry_after_s=_seconds(usage),
        )

    def state(self, usage: WindowUsage) -> LimitState:
        return LimitState(self.limit, self.subject, usage.used, _seconds(usage))


@dataclass(frozen=True, slots=True)
class _Resolved:
    """The lines of one identity or model under one set of limits and slicing, and what the
    limiter asks of them (limits apply the same whatever the time: windows slide in the
    store)."""

    limits: tuple[Limit, ...]
    buckets: int
    lines: tuple[LimitLine, ...]
    #: :meth:`RateLimiter.admit`'s asks (identity) or the checks of an exclusion (model)
    asks: tuple[Ask, ...]


class RateLimiter:
    """Enforces rate limits on requests and tokens, per user / org / project / model / globally;
    a pluggy plugin.

    - ``modelmuxer_request_start`` admits a request (:meth:`admit`): it counts one request on
      every ``requests`` limit of its identity and checks that no ``tokens`` limit of it is
      spent, all at once, or raises :class:`~modelmuxer.errors.RateLimited` and counts nothing.
      It runs after the other plugins' ``request_start`` (a request they reject costs nothing).
    - ``modelmuxer_filter_candidates`` excludes a model whose own limit is spent, with the
      reason and when it frees up (all excluded: :class:`~modelmuxer.errors.NoEligibleModel`).
    - ``modelmuxer_record`` counts each finished call: its tokens on the identity's ``tokens``
      limits, and one call and its tokens on the model's limits (cache hits count nothing).

    Requests of an identity are counted when admitted, so a ``requests`` limit is exact: at
    most ``amount`` admissions in any window, over every process sharing the store. Tokens and
    model calls are counted when they are known, after the call: a window is refused once
    spent, and calls in flight meanwhile may take it past its amount.

    Build it from settings (``Muxer`` does, as ``muxer.limits``) or with a store::

        limiter = RateLimiter(MemoryLimitStore(), [Limit(scope="user", subject="*",
                                                         amount=60, window_s=60)])
        muxer = Muxer(models, plugins=[limiter])

    :param buckets: each window is counted in this many slices (see
        :mod:`modelmuxer.limits.window`).
    :param shared: the bounded, breaker-guarded access to a shared store and its
        ``on_unavailable`` rule (``None`` for a memory store).
    :param events: where ``ratelimit.rejected`` and ``shared_state.unavailable`` are emitted
        (a muxer's plugin manager; ``Muxer`` passes its own, set :attr:`events` when you
        register a limiter yourself).
    :param clock: seconds since the epoch.
    """

    def __init__(
        self,
        store: LimitStore,
        limits: Iterable[Limit] = (),
        *,
        buckets: int = 20,
        shared: SharedState | None = None,
        events: pluggy.PluginManager | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        #: resolved lines per identity (user, org, project) or model, tagged with the limits
        #: and slicing they were worked out for
        self._resolved: dict[tuple[str | None, ...], _Resolved] = {}
        self._resolved_lock = threading.Lock()
        self._limits = tuple(limits)
        self._buckets = buckets
        self.shared = shared
        self._events: pluggy.PluginManager | None = None
        self.events = events
        self._clock = clock
        self._pending: deque[tuple[list[tuple[Meter, int]], int]] = deque(maxlen=_MAX_PENDING)
        self._pending_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: LimitSettings,
        *,
        events: pluggy.PluginManager | None = None,
        tls: RedisTLS | None = None,
    ) -> RateLimiter:
        """The limiter ``settings`` describe; ``events``: where to emit its events; ``tls``:
        the options of a ``rediss://`` URL (``tls.redis`` of the muxer's settings)."""
        shared = None
        if settings.store == "redis":
            from modelmuxer.limits.redis import UNAVAILABLE

            breaker = CircuitBreaker(
                failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
            )
            shared = SharedState(
                "limits",
                "redis",
                timeout_s=settings.timeout_s,
                breaker=breaker,
                errors=UNAVAILABLE,
                rule=settings.on_unavailable,
                events=events,
            )
        try:
            store = settings.build_store(tls)
        except ConfigError:
            raise  # already names the setting and what to change
        except ValueError as exc:
            raise ConfigError(f"limits.redis_url {str(settings.redis_url)!r}: {exc}") from None
        return cls(store, settings.limits, buckets=settings.buckets, shared=shared, events=events)

    @property
    def events(self) -> pluggy.PluginManager | None:
        """Where events are emitted (``None``: nowhere)."""
        return self._events

    @events.setter
    def events(self, events: pluggy.PluginManager | None) -> None:
        self._events = events
        if self.shared is not None:
            self.shared.events = events

    @property
    def limits(self) -> tuple[Limit, ...]:
        """The limits, in the order given; assign a new set to change them at run time."""
        return self._limits

    @limits.setter
    def limits(self, limits: Iterable[Limit]) -> None:
        self._limits = tuple(limits)
        self._forget()

    @property
    def buckets(self) -> int:
        """How many slices each window is counted in."""
        return self._buckets

    @buckets.setter
    def buckets(self, buckets: int) -> None:
        self._buckets = buckets
        self._forget()

    # -- which limits apply ---------------------------------------------------------------------

    def lines(self, identity: Identity) -> list[LimitLine]:
        """The limits of a request by ``identity`` (not the models'); a named subject beats
        ``*`` for the same kind and window."""
        return list(self._of_identity(identity).lines)

    def model_lines(self, model: str) -> list[LimitLine]:
        """The limits of calls to ``model``."""
        return list(self._of_model(model).lines)

    def _of_identity(self, identity: Identity) -> _Resolved:
        """:meth:`lines` of ``identity``, worked out once per set of limits."""
        limits, buckets = self._limits, self._buckets
        key = (identity.user, identity.org, identity.project)
        resolved = self._resolved.get(key)
        if resolved is None or resolved.limits is not limits or resolved.buckets != buckets:
            lines = self._choose(((limit, limit.subject_of(identity)) for limit in limits), buckets)
            asks = [Ask(line.meter, 1, take=line.limit.kind == "requests") for line in lines]
            resolved = self._keep(key, _Resolved(limits, buckets, lines, tuple(asks)))
        return resolved

    def _of_model(self, model: str) -> _Resolved:
        """:meth:`model_lines` of ``model``, worked out once per set of limits."""
        limits, buckets = self._limits, self._buckets
        key = ("model", model)  # two entries: never equal to an identity's three
        resolved = self._resolved.get(key)
        if resolved is None or resolved.limits is not limits or resolved.buckets != buckets:
            lines = self._choose(
                ((limit, model if limit.applies_to_model(model) else None) for limit in limits),
                buckets,
            )
            asks = [Ask(line.meter, 1, take=False) for line in lines]
            resolved = self._keep(key, _Resolved(limits, buckets, lines, tuple(asks)))
        return resolved

    def _keep(self, key: tuple[str | None, ...], resolved: _Resolved) -> _Resolved:
        with self._resolved_lock:
            self._resolved.pop(key, None)  # re-inserted last: the dict is oldest-first
            self._resolved[key] = resolved
            while len(self._resolved) > _MAX_RESOLVED:
                del self._resolved[next(iter(self._resolved))]
        return resolved

    def _forget(self) -> None:
        with self._resolved_lock:
            self._resolved.clear()

    def _choose(
        self, pairs: Iterable[tuple[Limit, str | None]], buckets: int
    ) -> tuple[LimitLine, ...]:
        chosen: dict[tuple[str, str, int], tuple[Limit, str]] = {}
        for limit, subject in pairs:
            if subject is None:
                continue
            slot = (limit.scope, limit.kind, limit.window_ms)
            if slot not in chosen or chosen[slot][0].subject == EACH:
                chosen[slot] = (limit, subject)
        return tuple(
            LimitLine(limit, subject, _meter(limit, subject, buckets))
            for limit, subject in chosen.values()
        )

    # -- admission, exclusion, counting ---------------------------------------------------------

    def admit(self, identity: Identity, ctx: RequestContext | None = None) -> None:
        """Count one request of ``identity``, or refuse it (counting nothing).

        :raises RateLimited: a limit of the identity is reached (``requests``) or spent
            (``tokens``).
        :raises SharedStateUnavailable: the store is unreachable and ``on_unavailable`` is
            ``closed``.
        """
        resolved = self._of_identity(identity)
        lines, asks = resolved.lines, list(resolved.asks)
        if not lines:
            return
        now_ms = self._now_ms()
        try:
            refusal = self._run(lambda: self.store.acquire(asks, now_ms))
        except Unavailable as exc:
            self._unavailable(exc, ctx, refusable=True)
            return
        self._replay()
        if refusal is not None:
            line = lines[refusal.index]
            error = line.refused(refusal.usage)
            self._rejected(line, error.retry_after_s, ctx)
            raise error

    def exclusions(
        self, models: Sequence[str], ctx: RequestContext | None = None
    ) -> dict[str, str]:
        """``{model: reason}`` for each of ``models`` whose own limit is spent.

        :raises SharedStateUnavailable: the store is unreachable and ``on_unavailable`` is
            ``closed`` (with ``open`` nothing is excluded).
        """
        pairs: list[tuple[str, LimitLine]] = []
        asks: list[Ask] = []
        for model in models:
            resolved = self._of_model(model)
            pairs.extend((model, line) for line in resolved.lines)
            asks.extend(resolved.asks)
        if not pairs:
            return {}
        now_ms = self._now_ms()
        try:
            usage = self._run(lambda: self.store.usage(asks, now_ms))
        except Unavailable as exc:
            self._unavailable(exc, ctx, refusable=True)
            return {}
        out: dict[str, str] = {}
        for (model, line), now in zip(pairs, usage, strict=True):
            if now.retry_after_ms != 0 and model not in out:
                wait = _seconds(now)
                out[model] = (
                    f"rate limit {line.limit.name}: {now.used} of {line.limit.amount} "
                    f"{line.limit.kind} used; retry in {wait:.2f} s"
                )
                self._rejected(line, wait, ctx)
        return out

    def count(self, record: CallRecord) -> None:
        """Count a finished call: its tokens on the identity's ``tokens`` limits; one call
        (when it answered) and its tokens on the model's limits. Cache hits count nothing."""
        if record.cache in ("exact", "semantic"):
            return
        tokens = record.usage.total_tokens
        counts = [
            (line.meter, tokens)
            for line in self._of_identity(record.identity).lines
            if line.limit.kind == "tokens"
        ]
        if record.outcome in ("ok", "escalated") or tokens > 0:
            for line in self._of_model(record.model).lines:
                counts.append((line.meter, 1 if line.limit.kind == "requests" else tokens))
        counts = [(meter, n) for meter, n in counts if n > 0]
        if counts:
            self._add(counts, self._now_ms())

    def states(
        self, identity: Identity | None = None, model: str | None = None
    ) -> list[LimitState]:
        """Where the limits of ``identity`` and of ``model`` stand now.

        :raises SharedStateUnavailable: the store is unreachable (whatever the rule).
        """
        lines = (self.lines(identity) if identity is not None else []) + (
            self.model_lines(model) if model is not None else []
        )
        if not lines:
            return []
        asks = [Ask(line.meter, 1, take=False) for line in lines]
        now_ms = self._now_ms()
        try:
            usage = self._run(lambda: self.store.usage(asks, now_ms))
        except Unavailable as exc:
            assert self.shared is not None  # only a shared store is ever unavailable
            raise SharedStateUnavailable(
                component="limits", backend=self.shared.backend, retry_after_s=exc.retry_after_s
            ) from None
        return [line.state(u) for line, u in zip(lines, usage, strict=True)]

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (closing a blocking client does not wait on the network)."""
        self.close()

    # -- hooks ----------------------------------------------------------------------------------

    @hookimpl(trylast=True)
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        """Admit the request, or raise :class:`~modelmuxer.errors.RateLimited`."""
        self.admit(ctx.request.identity, ctx)

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        """Exclude the models whose own limit is spent."""
        return self.exclusions([card.id for card in candidates], ctx) or None

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """Count the call's tokens and the call itself (never raises)."""
        try:
            self.count(record)
        except Exception:  # a record hook must not fail the request
            _log.exception("limits: counting call %s/%d failed", record.request_id, record.attempt)

    # -- internals ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _run(self, fn: Callable[[], T]) -> T:
        return fn() if self.shared is None else self.shared.call(fn)

    def _add(self, counts: list[tuple[Meter, int]], now_ms: int) -> None:
        try:
            self._run(lambda: self.store.add(counts, now_ms))
        except Unavailable as exc:
            with self._pending_lock:
                self._pending.append((counts, now_ms))
            self._unavailable(exc, None, refusable=False)
            return
        self._replay()

    def _replay(self) -> None:
        """Count what could not be counted while the store was unreachable (once it answers)."""
        while self._pending:
            with self._pending_lock:
                if not self._pending:
                    return
                counts, at_ms = self._pending.popleft()
            try:
                self._run(lambda: self.store.add(counts, at_ms))  # noqa: B023  # called at once
            except Unavailable:
                with self._pending_lock:
                    self._pending.appendleft((counts, at_ms))
                return

    def _unavailable(
        self, exc: Unavailable, ctx: RequestContext | None, *, refusable: bool
    ) -> None:
        assert self.shared is not None  # only a shared store is ever unavailable
        self.shared.unavailable(exc, ctx, refusable=refusable)

    def _rejected(self, line: LimitLine, retry_after_s: float, ctx: RequestContext | None) -> None:
        if self.events is not None:
            emit(
                self.events,
                "ratelimit.rejected",
                ctx,
                scope=line.limit.scope,
                subject=None if line.limit.scope == "global" else line.subject,
                kind=line.limit.kind,
                retry_after_s=retry_after_s,
            )


def _meter(limit: Limit, subject: str, buckets: int) -> Meter:
    who = "global" if limit.scope == "global" else f"{limit.scope}:{subject}"
    key = f"{who}/{limit.kind}/{limit.window_ms}ms/{buckets}"
    return Meter(key, limit.amount, limit.window_ms, buckets)


def _seconds(usage: WindowUsage) -> float:
    """The wait of ``usage`` in seconds (a cost that can never fit waits forever)."""
    return float("inf") if usage.retry_after_ms is None else usage.retry_after_ms / 1000
