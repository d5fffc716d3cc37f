"""Outages of shared state: Redis stopped (SIGSTOP) and killed (SIGKILL) under a stream of
requests through a muxer with the cache, budgets and rate limits on it; PostgreSQL frozen and
cut off under the budgets. With ``on_unavailable="open"`` no request fails; with ``"closed"``
requests are refused with :class:`~modelmuxer.SharedStateUnavailable` and no more than the limit
is ever admitted. Also the breaker and the bounded calls these rest on.

Each Redis test runs its own ``redis-server`` on a free port; PostgreSQL is reached through a
proxy of the test's own that can freeze (a stopped server) and drop everything (a dead one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _private_redis import PrivateRedis, free_port
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import Muxer, RateLimited, SharedStateUnavailable, hookimpl
from modelmuxer._breaker import CircuitBreaker
from modelmuxer._shared import SharedState, Unavailable
from modelmuxer.budgets import Counter, MemoryBudgetStore
from modelmuxer.budgets.model import to_usd
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.limits import Ask, Limit, MemoryLimitStore, Meter, RateLimiter, Refusal
from modelmuxer.types import Identity

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ANN = {"user": "ann", "org": "acme"}
FAST = {"breaker_failures": 2, "breaker_cooldown_s": 0.3}  # recover quickly in a test


class Events:
    """A plugin that keeps every operational event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        self.seen.append((name, dict(data)))

    def unavailable(self, component: str) -> list[dict[str, Any]]:
        return [
            d
            for n, d in self.seen
            if n == "shared_state.unavailable" and d["component"] == component
        ]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def amake(make_muxer: MakeMuxer) -> AsyncIterator[MakeMuxer]:
    """``make_muxer``, and ``aclose`` on this loop afterwards (where the connections live)."""
    built: list[Muxer] = []

    def make(*args: Any, **kwargs: Any) -> Muxer:
        muxer = make_muxer(*args, **kwargs)
        built.append(muxer)
        return muxer

    yield make
    for muxer in built:
        await muxer.aclose()


# -- the breaker and bounded calls ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_reports_when_it_opens_and_lets_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown_s=5.0, clock=clock)
    assert breaker.failed() is False
    assert breaker.failed() is True  # this one opened it
    assert breaker.failed() is False  # already open
    assert not breaker.allow()
    assert breaker.retry_in() == 5.0
    clock.now = 5.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.abandoned()  # the probe was cancelled: no verdict
    assert breaker.allow()  # so another may probe
    assert breaker.succeeded() is True  # it was open
    assert breaker.state == "closed"


def test_blocking_calls_skip_while_open_and_keep_answers_apart() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=60.0)
    shared = SharedState("limits", "redis", timeout_s=0.2, breaker=breaker, errors=(OSError,))
    calls = []

    def refused() -> None:
        calls.append(1)
        raise ConnectionRefusedError("refused")

    for _ in range(2):
        with pytest.raises(Unavailable, match="ConnectionRefusedError") as failed:
            shared.call(refused)
        assert not failed.value.skipped
    with pytest.raises(Unavailable) as skipped:
        shared.call(refused)
    assert skipped.value.skipped
    assert 59.0 < skipped.value.retry_after_s <= 60.0
    assert len(calls) == 2  # the open breaker did not call it
    breaker.succeeded()
    with pytest.raises(KeyError):  # not an outage: passes through, and the store answered
        shared.call(lambda: {}["x"])
    assert breaker.state == "closed"


async def test_async_calls_are_bounded_by_the_timeout() -> None:
    breaker = CircuitBreaker(failures=1, cooldown_s=60.0)
    shared = SharedState(
        "budgets", "redis", timeout_s=0.05, breaker=breaker, errors=(), own_loop=True
    )
    started = time.perf_counter()
    with pytest.raises(Unavailable, match=r"no answer in 0\.05 s"):
        await shared.acall(lambda: asyncio.sleep(30))
    assert time.perf_counter() - started < 10  # bounded (generously: not a timing test)
    assert breaker.state == "open"
    await shared.aclose(lambda: asyncio.sleep(0))


def test_the_rule_decides_and_emits(make_muxer: MakeMuxer) -> None:
    events = Events()
    muxer = make_muxer(OFFLINE_MODELS, plugins=[events])
    breaker = CircuitBreaker(failures=1, cooldown_s=1.0)
    gone = Unavailable("ConnectionError: gone", 0.7)
    for rule in ("open", "closed"):
        shared = SharedState(
            "limits",
            "redis",
            timeout_s=0.2,
            breaker=breaker,
            errors=(),
            rule=rule,
            events=muxer.plugins,
        )
        shared.unavailable(gone, refusable=False)  # a settlement is never refused
        if rule == "open":
            shared.unavailable(gone)
        else:
            with pytest.raises(SharedStateUnavailable) as refused:
                shared.unavailable(gone)
            assert (refused.value.component, refused.value.retry_after_s) == ("limits", 0.7)
            assert "on_unavailable" in str(refused.value)
    assert events.unavailable("limits")[0] == {
        "component": "limits",
        "rule": "open",
        "error": "ConnectionError: gone",
    }
    assert [d["rule"] for d in events.unavailable("limits")] == ["open"] * 2 + ["closed"] * 2


class FlakyStore(MemoryLimitStore):
    """A memory store that fails like an unreachable Redis while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def acquire(self, asks: Sequence[Ask], now_ms: int) -> Refusal | None:
        if self.down:
            raise ConnectionRefusedError("down")
        return super().acquire(asks, now_ms)

    def add(self, counts: Sequence[tuple[Meter, int]], now_ms: int) -> None:
        if self.down:
            raise ConnectionRefusedError("down")
        super().add(counts, now_ms)


def test_counts_that_missed_the_store_are_counted_when_it_answers(
    make_muxer: MakeMuxer,
) -> None:
    store = FlakyStore()
    breaker = CircuitBreaker(failures=100, cooldown_s=60.0)
    shared = SharedState("limits", "redis", timeout_s=0.2, breaker=breaker, errors=(OSError,))
    tokens = Limit(scope="user", subject="*", kind="tokens", amount=10**6, window_s=60)
    limiter = RateLimiter(store, [tokens], shared=shared)
    muxer = make_muxer(OFFLINE_MODELS, plugins=[limiter])
    store.down = True
    spent = [muxer.complete("What is a token?", identity=ANN).usage.total_tokens for _ in range(3)]
    assert limiter.states(Identity(**ANN))[0].used == 0  # nothing reached the store
    store.down = False
    # the store answers: the admission replays the backlog, then this call is counted
    spent.append(muxer.complete("What is a token?", identity=ANN).usage.total_tokens)
    assert limiter.states(Identity(**ANN))[0].used == sum(spent)


async def test_budget_stores_settle_once() -> None:
    store = MemoryBudgetStore()
    counter = Counter("org:acme/total/total", Decimal("1"), None)
    held = await store.reserve("r1", [counter], Decimal("0.5"), 60.0)
    await store.settle(held, Decimal("0.2"))
    again = await store.settle(held, Decimal("0.2"))  # a retry after a lost answer
    assert again[0].spent == Decimal("0.2")
    assert again[0].reserved == 0


# -- Redis stopped and killed under a stream of requests ------------------------------------------


def _settings(url: str, prefix: str, rule: str, *, limit: int = 100_000) -> dict[str, Any]:
    return {
        "cache": {
            "enabled": True,
            "backend": "redis",
            "redis_url": url,
            "namespace": prefix,
            **FAST,
        },
        "budgets": {
            "backend": url,
            "namespace": f"{prefix}:budgets",
            "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "100"}],
            "on_unavailable": rule,
            **FAST,
        },
        "limits": {
            "store": "redis",
            "redis_url": url,
            "key_prefix": f"{prefix}:limits",
            "on_unavailable": rule,
            "limits": [
                {"scope": "user", "subject": "*", "amount": limit, "window_s": 3600},
                {"scope": "org", "subject": "*", "kind": "tokens", "amount": 10**8, "window_s": 60},
                {"scope": "model", "subject": "*", "amount": 10**6, "window_s": 60},
            ],
            **FAST,
        },
    }


class Stream:
    """Requests sent continuously by ``workers`` concurrent tasks; their outcomes by phase."""

    def __init__(self, muxer: Muxer, workers: int = 4) -> None:
        self.muxer = muxer
        self.phase = "up"
        self.outcomes: dict[str, list[str]] = {}
        self.latencies: dict[str, list[float]] = {}
        self._stop = False
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(workers)]

    async def _worker(self, index: int) -> None:
        i = 0
        while not self._stop:
            i += 1
            phase = self.phase
            started = time.perf_counter()
            try:
                await self.muxer.acomplete(
                    f"Question {i % 7} of worker {index}: how do rate limits work?",
                    identity=ANN,
                    temperature=0,
                    metadata={"offline": {"latency_s": 0.005}},
                )
                outcome = "ok"
            except (RateLimited, SharedStateUnavailable) as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # reported by the assertions
                outcome = f"failed: {type(exc).__name__}: {exc}"
            self.outcomes.setdefault(phase, []).append(outcome)
            self.latencies.setdefault(phase, []).append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async def run(self, phase: str, seconds: float) -> None:
        self.phase = phase
        await asyncio.sleep(seconds)

    async def stop(self) -> None:
        self._stop = True
        await asyncio.gather(*self._tasks)

    def failures(self) -> list[str]:
        return [o for outs in self.outcomes.values() for o in outs if o.startswith("failed")]

    def summary(self) -> str:
        parts = []
        for phase, outs in self.outcomes.items():
            slowest = max(self.latencies[phase]) * 1000
            parts.append(
                f"{phase}: {len(outs)} requests, {outs.count('ok')} ok, slowest {slowest:.0f} ms"
            )
        return "; ".join(parts)


async def _until(check: Any, attempts: int = 200) -> bool:
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.slow
async def test_fail_open_no_request_fails_while_redis_is_stopped_killed_and_restarted(
    amake: MakeMuxer, private_redis: PrivateRedis
) -> None:
    events = Events()
    settings = load_settings(**_settings(private_redis.url, f"t{uuid.uuid4().hex[:8]}", "open"))
    muxer = amake(OFFLINE_MODELS, settings=settings, plugins=[events])
    assert muxer.limits is not None
    assert muxer.budgets is not None
    stream = Stream(muxer)
    await stream.run("up", 0.5)
    private_redis.signal(signal.SIGSTOP)
    await stream.run("stopped", 1.5)
    private_redis.signal(signal.SIGKILL)  # killed while stopped, requests in flight
    await stream.run("killed", 1.0)
    await asyncio.to_thread(private_redis.start)  # same port, empty

    async def limits_back() -> bool:
        stream.phase = "restarted"
        await asyncio.sleep(0.1)
        try:
            return bool(muxer.limits and muxer.limits.states(Identity(**ANN))[0].used > 0)
        except SharedStateUnavailable:
            return False

    assert await _until(limits_back)
    await stream.run("restarted", 0.5)
    await stream.stop()
    print(f"\nfail-open: {stream.summary()}")

    assert stream.failures() == []
    for phase in ("up", "stopped", "killed", "restarted"):
        assert stream.outcomes[phase].count("ok") == len(stream.outcomes[phase]) > 0, phase
    assert events.unavailable("limits")
    assert events.unavailable("budgets")
    assert {d["rule"] for n, d in events.seen if n == "shared_state.unavailable"} == {"open"}
    # counting resumed on the new server, and the budget's counter with it
    states = await muxer.budgets.states(Identity(**ANN))
    assert states[0].spent_usd > 0


@pytest.mark.slow
async def test_fail_closed_refuses_and_never_admits_more_than_the_limit(
    amake: MakeMuxer, private_redis: PrivateRedis
) -> None:
    limit = 20
    events = Events()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = load_settings(**_settings(private_redis.url, prefix, "closed", limit=limit))
    muxer = amake(OFFLINE_MODELS, settings=settings, plugins=[events])
    outcomes: list[str] = []

    async def ask(n: int) -> list[str]:
        got = []
        for i in range(n):
            try:
                await muxer.acomplete(f"Question {i}: what is a circuit breaker?", identity=ANN)
                got.append("ok")
            except (RateLimited, SharedStateUnavailable) as exc:
                got.append(type(exc).__name__)
        outcomes.extend(got)
        return got

    assert await ask(12) == ["ok"] * 12
    private_redis.signal(signal.SIGSTOP)
    stopped = await ask(10)
    assert stopped == ["SharedStateUnavailable"] * 10
    private_redis.signal(signal.SIGCONT)
    await asyncio.sleep(0.35)  # the breaker's cool-down
    await ask(20)  # up to the limit, then RateLimited
    private_redis.signal(signal.SIGSTOP)
    private_redis.signal(signal.SIGKILL)
    assert set(await ask(5)) == {"SharedStateUnavailable"}

    admitted = outcomes.count("ok")
    refusals = events.unavailable("limits")
    late = sum(1 for d in refusals if "Timeout" in d["error"] or "no answer" in d["error"])
    print(f"\nfail-closed: {admitted} admitted of {len(outcomes)}, limit {limit}")
    assert admitted <= limit
    # a check that timed out while Redis was stopped ran when it resumed: it counted a request
    # that was refused (never the other way round)
    assert admitted >= limit - late
    assert outcomes[-6] == "RateLimited"
    assert {d["rule"] for d in refusals} == {"closed"}


@pytest.mark.slow
async def test_fail_closed_budgets_refuse_while_redis_is_stopped(
    amake: MakeMuxer, private_redis: PrivateRedis
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    budgets = {
        "backend": private_redis.url,
        "namespace": prefix,
        "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "1"}],
        "on_unavailable": "closed",
        **FAST,
    }
    muxer = amake(OFFLINE_MODELS, settings=load_settings(budgets=budgets))
    await muxer.acomplete("What is a budget?", identity=ANN)
    private_redis.signal(signal.SIGSTOP)
    for _ in range(4):
        with pytest.raises(SharedStateUnavailable) as refused:
            await muxer.acomplete("What is a budget?", identity=ANN)
        assert refused.value.component == "budgets"
    private_redis.signal(signal.SIGCONT)
    assert muxer.budgets is not None

    async def back() -> bool:
        try:
            await muxer.acomplete("What is a budget?", identity=ANN)
        except SharedStateUnavailable:
            return False
        return True

    assert await _until(back)
    state = (await muxer.budgets.states(Identity(**ANN)))[0]
    assert state.spent_usd <= state.limit_usd


@pytest.mark.slow
async def test_a_settlement_that_missed_the_store_is_retried_once_it_answers(
    amake: MakeMuxer, private_redis: PrivateRedis
) -> None:
    budgets = {
        "backend": private_redis.url,
        "namespace": f"t{uuid.uuid4().hex[:8]}",
        "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "10"}],
        **FAST,
    }
    muxer = amake(OFFLINE_MODELS, settings=load_settings(budgets=budgets))
    assert muxer.budgets is not None
    call = asyncio.create_task(
        muxer.acomplete("Why?", identity=ANN, metadata={"offline": {"latency_s": 0.6}})
    )
    await asyncio.sleep(0.3)  # reserved, the model is answering
    private_redis.signal(signal.SIGSTOP)
    completion = await call  # its settlement timed out: the request still succeeds
    private_redis.signal(signal.SIGCONT)
    guard = muxer.budgets

    async def settled() -> bool:
        try:
            state = (await guard.states(Identity(**ANN)))[0]
        except SharedStateUnavailable:
            return False
        return state.reserved_usd == 0

    assert await _until(settled)
    state = (await guard.states(Identity(**ANN)))[0]
    # charged exactly once, although the first attempt reached Redis when it resumed
    assert state.spent_usd == to_usd(completion.cost_usd)


@pytest.mark.slow
async def test_a_reservation_cancelled_while_redis_is_stopped_is_given_back_when_it_answers(
    amake: MakeMuxer, private_redis: PrivateRedis
) -> None:
    # A client gives up on a request stuck reserving on a frozen Redis: the reservation may
    # reach Redis once it resumes, and the release sent at the cancellation cannot (Redis is
    # still frozen). The release must be retried, not dropped: else the reservation holds its
    # worst case on the budget for a whole lease (600 s).
    budgets = {
        "backend": private_redis.url,
        "namespace": f"t{uuid.uuid4().hex[:8]}",
        "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "10"}],
        "timeout_s": 1.0,
        **FAST,
    }
    muxer = amake(OFFLINE_MODELS, settings=load_settings(budgets=budgets))
    guard = muxer.budgets
    assert guard is not None
    await muxer.acomplete("Why?", identity=ANN)  # connected, scripts loaded
    private_redis.signal(signal.SIGSTOP)
    call = asyncio.create_task(muxer.acomplete("Why?", identity=ANN))
    await asyncio.sleep(0.3)  # the reservation is on its way to the frozen Redis
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(1.5)  # the release sent at the cancellation timed out
    private_redis.signal(signal.SIGCONT)

    async def released() -> bool:
        try:
            state = (await guard.states(Identity(**ANN)))[0]
        except SharedStateUnavailable:
            return False
        return state.reserved_usd == 0

    assert await _until(released)


# -- PostgreSQL frozen and cut off under the budgets ----------------------------------------------


class Proxy:
    """A TCP proxy to a real server, on a thread of its own, that can freeze (relay nothing, as
    a stopped server) and drop every connection (as a dead one)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thawed = asyncio.Event()
        self._loop.call_soon_threadsafe(self._thawed.set)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._run(serve())

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._thawed.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._thawed.set)

    def kill(self) -> None:
        async def drop() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        self._run(drop())

    def close(self) -> None:
        self.kill()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._thawed.wait()
            writer.write(data)
            await writer.drain()


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[Proxy, str]]:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(postgres_url)
    proxy = Proxy(parts.port or 5432)
    proxy.start()
    host = f"{parts.hostname}:{proxy.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    yield proxy, urlunsplit(parts._replace(netloc=host))
    proxy.close()


@pytest.mark.slow
async def test_budgets_on_postgres_survive_it_frozen_and_cut_off(
    amake: MakeMuxer, pg_proxy: tuple[Proxy, str], postgres_url: str
) -> None:
    from modelmuxer.budgets.postgres import PostgresBudgetStore

    proxy, url = pg_proxy
    prefix = f"test_budget_{uuid.uuid4().hex[:10]}"
    tables = PostgresBudgetStore(postgres_url, table_prefix=prefix)
    await tables.reclaim_expired()  # creates the tables: the muxer's first call need not
    events = Events()
    budgets = {
        "backend": url,
        "table_prefix": prefix,
        "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "10"}],
        **FAST,
    }
    muxer = amake(OFFLINE_MODELS, settings=load_settings(budgets=budgets), plugins=[events])
    assert muxer.budgets is not None
    stream = Stream(muxer, workers=3)
    try:
        await stream.run("up", 0.5)
        proxy.freeze()
        await stream.run("frozen", 1.5)
        proxy.kill()
        await stream.run("cut off", 0.5)
        proxy.thaw()
        proxy.start()

        async def back() -> bool:
            stream.phase = "back"
            try:
                return (await muxer.budgets.states(Identity(**ANN)))[0].spent_usd > 0  # type: ignore[union-attr]
            except SharedStateUnavailable:
                return False

        assert await _until(back)
        await stream.stop()
    finally:
        await tables.drop_tables()
        await tables.aclose()
    print(f"\npostgres: {stream.summary()}")
    assert stream.failures() == []
    assert stream.outcomes["frozen"].count("ok") == len(stream.outcomes["frozen"]) > 0
    assert events.unavailable("budgets")
