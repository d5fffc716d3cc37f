"""The health check of one muxer: :class:`HealthChecker` (``muxer.health()``).

Probes run at the same time, on a private event loop in a daemon thread (as the budget stores'
calls do): the time bound measures the stores, not how busy the caller's loop is, and a probe
abandoned on a dead server is cancelled there, in the background, without holding the caller.
A check never raises: whatever fails is an entry of the report, its error scrubbed of secrets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from modelmuxer._breaker import BreakerState, CircuitBreaker
from modelmuxer._secrets import redact_url, scrub_secrets
from modelmuxer._shared import IoLoop, describe
from modelmuxer.health import probes
from modelmuxer.health.report import (
    BudgetHealth,
    DatabaseHealth,
    HealthReport,
    HealthStatus,
    ModelHealth,
    OutboxHealth,
    RedisHealth,
)

if TYPE_CHECKING:
    from pathlib import Path

    from modelmuxer.budgets import BudgetState
    from modelmuxer.health.settings import HealthSettings
    from modelmuxer.muxer import Muxer

__all__ = ["HealthChecker", "LocalGauges"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.health")
_RANK: dict[HealthStatus, int] = {"ok": 0, "degraded": 1, "down": 2}
#: the setting that holds each component's store URL (named in errors)
_SETTING = {
    "cache": "cache.redis_url",
    "limits": "limits.redis_url",
    "budgets": "budgets.backend",
    "ledger": "ledger.url",
    "audit": "audit.url",
}
#: what each component stops doing while its store is unreachable (rule ``open``)
_OPEN_EFFECT = {
    "cache": "the cache is bypassed",
    "limits": "rate limits are not enforced",
    "budgets": "budgets are not enforced",
    "ledger": "records wait in the outbox",
    "audit": "audit entries wait in memory",
}


@dataclass(frozen=True, slots=True)
class LocalGauges:
    """What the metrics read at scrape time, without I/O beyond a directory listing."""

    #: bytes waiting in the ledger's outbox (``None``: no ledger)
    outbox_bytes: int | None
    #: each component's circuit breaker on its shared store (cache, budgets, limits)
    shared_state: dict[str, BreakerState]


@dataclass(slots=True)
class _Target:
    """One distinct store URL and the components that use it."""

    url: str
    used_by: list[str] = field(default_factory=list)


class HealthChecker:
    """Checks a muxer's models, shared stores, outbox and budgets (``muxer.health()``).

    Built by the muxer; :meth:`check` / :meth:`acheck` return a
    :class:`~modelmuxer.health.HealthReport` within about ``settings.health.probe_timeout_s``.
    """

    def __init__(self, muxer: Muxer) -> None:
        self._muxer = muxer
        self.settings: HealthSettings = muxer.settings.health
        self._io = IoLoop("modelmuxer-health")
        self._abandoned: set[asyncio.Future[Any]] = set()

    # -- checking -------------------------------------------------------------------------------

    def check(self) -> HealthReport:
        """The health of the muxer now (blocks for at most about ``probe_timeout_s``)."""
        future = self._io.submit(self._check())
        try:
            return future.result(timeout=self._deadline())
        except concurrent.futures.TimeoutError:
            future.cancel()
            return self._failed("the health check did not finish in time")

    async def acheck(self) -> HealthReport:
        """Async twin of :meth:`check`; the probes run on the checker's own loop."""
        future = self._io.submit(self._check())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._deadline())
        except TimeoutError:
            return self._failed("the health check did not finish in time")

    def close(self) -> None:
        """Stop the probes' loop (a later check starts it again)."""
        self._io.stop()

    def local_gauges(self) -> LocalGauges:
        """The outbox's bytes and the shared stores' breakers, read now (for the metrics)."""
        ledger = self._muxer.ledger
        outbox = None if ledger is None else probes.outbox_bytes(self._outbox_dir())
        states = {name: breaker.state for name, breaker in self._shared_breakers()}
        return LocalGauges(outbox_bytes=outbox, shared_state=states)

    def _deadline(self) -> float:
        # the probes are bounded by probe_timeout_s; this is the safety net around them
        return self.settings.probe_timeout_s * 2 + 1.0

    async def _check(self) -> HealthReport:
        started = time.perf_counter()
        checked_at = datetime.now(UTC)
        try:
            parts = await self._probe_all()
        except Exception as exc:  # a bug must not fail the probe endpoint: report it
            _log.exception("health check failed")
            return self._failed(f"the health check failed: {self._scrub(exc)}")
        models = self._models()
        redis, databases, outbox, budgets = parts
        verdicts = [
            *self._model_verdicts(models),
            *self._store_verdicts(redis, databases),
            *self._outbox_verdicts(outbox),
            *_budget_verdicts(budgets),
        ]
        status: HealthStatus = max(
            (level for level, _ in verdicts), key=_RANK.__getitem__, default="ok"
        )
        return HealthReport(
            status=status,
            reasons=[reason for _, reason in verdicts],
            checked_at=checked_at,
            duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
            models=models,
            redis=redis,
            databases=databases,
            outbox=outbox,
            budgets=budgets,
        )

    async def _probe_all(
        self,
    ) -> tuple[list[RedisHealth], list[DatabaseHealth], OutboxHealth | None, list[BudgetHealth]]:
        timeout = self.settings.probe_timeout_s
        tls = self._muxer.settings.tls
        redis_targets = self._redis_targets()
        db_targets = self._database_targets()
        redis_tasks = [
            self._start(
                probes.ping_redis(t.url, timeout, tls=tls.redis, setting=_SETTING[t.used_by[0]])
            )
            for t in redis_targets
        ]
        db_tasks = [
            self._start(
                probes.select_one(t.url, timeout, tls=tls.postgres, setting=_SETTING[t.used_by[0]])
            )
            for t in db_targets
        ]
        outbox_task = None
        if self._muxer.ledger is not None:
            outbox_task = self._start(asyncio.to_thread(probes.outbox_backlog, self._outbox_dir()))
        budgets_task = None
        if self._muxer.budgets is not None:
            budgets_task = self._start(self._budget_states())
        tasks = [*redis_tasks, *db_tasks, *(t for t in (outbox_task, budgets_task) if t)]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                self._abandon(task)
        redis = [
            self._redis_entry(t, task) for t, task in zip(redis_targets, redis_tasks, strict=True)
        ]
        dbs = [self._db_entry(t, task) for t, task in zip(db_targets, db_tasks, strict=True)]
        outbox = None if outbox_task is None else self._outbox_entry(outbox_task)
        budgets: list[BudgetHealth] = []
        if budgets_task is not None:
            budgets = _result(budgets_task) or self._last_seen_budgets()
        return redis, dbs, outbox, budgets

    def _start(self, coro: Awaitable[T]) -> asyncio.Future[T]:
        return asyncio.ensure_future(coro)

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        """Cancel a late probe and let it end in the background (kept referenced until then)."""
        task.cancel()
        self._abandoned.add(task)

        def done(finished: asyncio.Future[Any]) -> None:
            self._abandoned.discard(finished)
            if not finished.cancelled():
                finished.exception()  # retrieved: a late probe's error is no news

        task.add_done_callback(done)

    # -- the parts ------------------------------------------------------------------------------

    def _models(self) -> list[ModelHealth]:
        breakers = self._muxer.breakers
        window = self.settings.window_s
        out = []
        for model in self._muxer.catalog.ids():
            if breakers is None:
                out.append(
                    ModelHealth(
                        model=model,
                        breaker=None,
                        calls=None,
                        failures=None,
                        error_rate=None,
                        window_s=window,
                    )
                )
                continue
            calls, failures = breakers.recent(model)
            out.append(
                ModelHealth(
                    model=model,
                    breaker=breakers.state(model),
                    calls=calls,
                    failures=failures,
                    error_rate=round(failures / calls, 4) if calls else None,
                    window_s=breakers.stats_window_s,
                )
            )
        return out

    def _redis_targets(self) -> list[_Target]:
        muxer, settings = self._muxer, self._muxer.settings
        used: list[tuple[str, str]] = []
        if settings.cache.enabled and settings.cache.backend == "redis":
            used.append((settings.cache.redis_url.get_secret_value(), "cache"))
        if muxer.budgets is not None and settings.budgets.backend_kind == "redis":
            used.append((settings.budgets.backend.get_secret_value(), "budgets"))
        if muxer.limits is not None and settings.limits.store == "redis":
            used.append((settings.limits.redis_url.get_secret_value(), "limits"))
        return _group(used)

    def _database_targets(self) -> list[_Target]:
        muxer, settings = self._muxer, self._muxer.settings
        used: list[tuple[str, str]] = []
        if muxer.ledger is not None:
            used.append((muxer.ledger.url, "ledger"))
        if muxer.audit is not None:
            used.append((settings.audit.resolved_url(settings.ledger.resolved_url()), "audit"))
        if muxer.budgets is not None and settings.budgets.backend_kind == "postgresql":
            used.append((settings.budgets.backend.get_secret_value(), "budgets"))
        return _group(used)

    def _shared_breakers(self) -> Iterator[tuple[str, CircuitBreaker]]:
        muxer = self._muxer
        redis = getattr(muxer.cache.answers, "redis", None)  # GuardedRedis on the Redis backend
        breaker = getattr(redis, "breaker", None)
        if isinstance(breaker, CircuitBreaker):
            yield "cache", breaker
        for name, part in (("budgets", muxer.budgets), ("limits", muxer.limits)):
            shared = None if part is None else part.shared
            if shared is not None:
                yield name, shared.breaker

    def _breakers_of(self, target: _Target) -> dict[str, BreakerState]:
        states = dict(self._shared_breakers())
        return {name: states[name].state for name in target.used_by if name in states}

    def _redis_entry(self, target: _Target, task: asyncio.Future[float]) -> RedisHealth:
        latency, error = self._outcome(task, target.url)
        return RedisHealth(
            url=redact_url(target.url),
            used_by=target.used_by,
            reachable=error is None,
            latency_ms=latency,
            error=error,
            breakers=self._breakers_of(target),
        )

    def _db_entry(self, target: _Target, task: asyncio.Future[float]) -> DatabaseHealth:
        latency, error = self._outcome(task, target.url)
        backend = "sqlite" if target.url.startswith("sqlite") else "postgresql"
        return DatabaseHealth(
            url=redact_url(target.url),
            backend=backend,
            used_by=target.used_by,
            reachable=error is None,
            latency_ms=latency,
            error=error,
            breakers=self._breakers_of(target),
        )

    def _outbox_entry(self, task: asyncio.Future[probes.Backlog]) -> OutboxHealth:
        directory = self._outbox_dir()
        backlog = _result(task)
        if backlog is None:  # too slow or failing to list: at least the bytes, from the sizes
            size = probes.outbox_bytes(directory)
            backlog = probes.Backlog(0, 0, size, None, records_estimated=True)
        return OutboxHealth(
            directory=str(directory),
            segments=backlog.segments,
            records=backlog.records,
            bytes=backlog.bytes,
            oldest_age_s=backlog.oldest_age_s,
            records_estimated=backlog.records_estimated,
        )

    def _outbox_dir(self) -> Path:
        ledger = self._muxer.ledger
        assert ledger is not None
        return ledger.settings.resolved_outbox_dir()

    async def _budget_states(self) -> list[BudgetHealth]:
        guard = self._muxer.budgets
        assert guard is not None
        try:
            states = await guard.states()
        except Exception:  # the store did not answer: the caller falls back to last_seen
            return []
        return [_budget(state, "store") for state in states]

    def _last_seen_budgets(self) -> list[BudgetHealth]:
        """Each budget that names its subject (or is global), as this process last saw it."""
        from modelmuxer.budgets.model import EACH
        from modelmuxer.types import Identity

        guard = self._muxer.budgets
        assert guard is not None
        out = []
        for budget in guard.budgets:
            if budget.subject == EACH:
                continue
            who = (
                Identity() if budget.subject is None else Identity(**{budget.scope: budget.subject})
            )
            out += [
                _budget(state, "last_seen")
                for state in guard.last_seen(who)
                if state.budget.name == budget.name
            ]
        return out

    # -- verdicts -------------------------------------------------------------------------------

    def _model_verdicts(self, models: list[ModelHealth]) -> Iterator[tuple[HealthStatus, str]]:
        opened = [m.model for m in models if m.breaker == "open"]
        if models and len(opened) == len(models):
            yield "down", "every model's circuit breaker is open"
        elif opened:
            yield "degraded", f"circuit breaker open: {', '.join(opened)}"
        probing = [m.model for m in models if m.breaker == "half-open"]
        if probing:
            yield "degraded", f"circuit breaker half-open (probing): {', '.join(probing)}"
        for m in models:
            if (
                m.calls is not None
                and m.failures is not None
                and m.calls >= self.settings.min_calls
                and m.failures / m.calls >= self.settings.error_rate_degraded
            ):
                yield (
                    "degraded",
                    f"{m.model}: {m.failures} of {m.calls} calls failed in the last "
                    f"{m.window_s:g} s",
                )

    def _store_verdicts(
        self, redis: list[RedisHealth], databases: list[DatabaseHealth]
    ) -> Iterator[tuple[HealthStatus, str]]:
        settings = self._muxer.settings
        rules = {
            "limits": settings.limits.on_unavailable,
            "budgets": settings.budgets.on_unavailable,
        }
        stores: list[tuple[str, RedisHealth | DatabaseHealth]] = [
            *(("Redis", r) for r in redis),
            *(("database", d) for d in databases),
        ]
        for kind, store in stores:
            if store.reachable:
                continue
            for component in store.used_by:
                if rules.get(component) == "closed":
                    yield (
                        "down",
                        f"{kind} {store.url} unreachable: {component} refuses requests "
                        "(on_unavailable = closed)",
                    )
                else:
                    yield (
                        "degraded",
                        f"{kind} {store.url} unreachable: {_OPEN_EFFECT[component]}",
                    )

    def _outbox_verdicts(self, outbox: OutboxHealth | None) -> Iterator[tuple[HealthStatus, str]]:
        if outbox is None or outbox.oldest_age_s is None:
            return
        if outbox.oldest_age_s > self.settings.outbox_max_age_s:
            yield (
                "degraded",
                f"{outbox.records} ledger records ({outbox.bytes} bytes) have waited in the "
                f"outbox for {outbox.oldest_age_s:.0f} s",
            )

    # -- helpers --------------------------------------------------------------------------------

    def _outcome(self, task: asyncio.Future[float], url: str) -> tuple[float | None, str | None]:
        if not task.done() or task.cancelled():
            return None, f"no answer in {self.settings.probe_timeout_s:g} s"
        exc = task.exception()
        if exc is not None:
            return None, self._scrub(exc, url)
        return task.result(), None

    def _scrub(self, exc: BaseException, *secrets: str) -> str:
        return scrub_secrets(describe(exc), secrets)

    def _failed(self, reason: str) -> HealthReport:
        return HealthReport(
            status="down",
            reasons=[reason],
            checked_at=datetime.now(UTC),
            duration_ms=0.0,
            models=[],
            redis=[],
            databases=[],
            outbox=None,
            budgets=[],
        )


def _group(used: list[tuple[str, str]]) -> list[_Target]:
    """One target per distinct URL, with every component that uses it."""
    targets: dict[str, _Target] = {}
    for url, component in used:
        targets.setdefault(url, _Target(url)).used_by.append(component)
    return list(targets.values())


def _result(task: asyncio.Future[T]) -> T | None:
    """A finished probe's result; ``None`` when it failed or did not finish."""
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()


def _budget(state: BudgetState, source: Literal["store", "last_seen"]) -> BudgetHealth:
    limit, spent = state.limit_usd, state.spent_usd
    return BudgetHealth(
        budget=state.budget.name,
        subject=state.subject,
        limit_usd=float(limit),
        spent_usd=float(spent),
        reserved_usd=float(state.reserved_usd),
        remaining_usd=float(state.remaining_usd),
        used_pct=round(float(spent / limit) * 100.0, 2) if limit > 0 else 100.0,
        resets_at=state.resets_at,
        source=source,
    )


def _budget_verdicts(budgets: list[BudgetHealth]) -> Iterator[tuple[HealthStatus, str]]:
    """A global budget spent in full refuses every request until its window resets."""
    for budget in budgets:
        if budget.subject == "global" and budget.spent_usd >= budget.limit_usd:
            until = "" if budget.resets_at is None else f" until {budget.resets_at.isoformat()}"
            yield "degraded", f"budget {budget.budget} is spent: requests are refused{until}"
