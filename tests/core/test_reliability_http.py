"""Resilient provider calls through litellm's real HTTP path, against a fault-injecting
OpenAI-compatible server on 127.0.0.1 (``tests/_fault_server.py``).

Each test starts its own server, points ``openai/<name>`` models at it, and scripts what it
does to each request: HTTP errors with ``Retry-After``, slowness, dropped connections, streams
that break after some chunks. The server counts the requests it really received, so "one retry
loop" is checked where it matters: on the wire.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from _fault_server import KEY_ENV, KEY_VALUE, Fault, FaultServer
from _support import MakeMuxer, Recorder

from modelmuxer import (
    Identity,
    Muxer,
    ProviderError,
    ProviderTimeout,
    RateLimitedByProvider,
    StreamInterrupted,
    hookimpl,
)
from modelmuxer.budgets import Budget, BudgetGuard, MemoryBudgetStore
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.types import StreamChunk

pytestmark = [
    pytest.mark.litellm,
    # litellm's own pydantic models warn about ReadOnly TypedDict items when first used.
    pytest.mark.filterwarnings("ignore:Item .*ReadOnly:UserWarning"),
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*:DeprecationWarning"),
]

PRIMARY, BACKUP = "openai/primary", "openai/backup"
PROMPT = "Say hello to the reliability tests."
#: small waits so that retries cost milliseconds (the policy itself is tested without waits)
FAST: dict[str, Any] = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "backoff_jitter": 0.0}


class Events:
    """Remembers the operational events (``modelmuxer_event``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(self, name: str, ctx: RequestContext | None, data: Any) -> None:
        self.seen.append((name, dict(data)))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for seen, data in self.seen if seen == name]


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    module = importlib.import_module("litellm")
    module.suppress_debug_info = True  # no "Give Feedback" banner on every injected error
    return module


@pytest.fixture
async def server(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FaultServer]:
    monkeypatch.setenv(KEY_ENV, KEY_VALUE)
    async with FaultServer() as running:
        yield running
    # litellm caches an HTTP client per endpoint: close this test's (its loop ends now) and
    # forget them, so no later test finds (or garbage-collects) an open session
    await litellm.close_litellm_async_clients()
    litellm.in_memory_llm_clients_cache.flush_cache()


def _muxer(
    make_muxer: MakeMuxer,
    server: FaultServer,
    *plugins: object,
    models: tuple[str, ...] = ("primary", "backup"),
    **reliability: Any,
) -> Muxer:
    """Models on the fault server, best first (``quality_first`` picks the first; the
    others are its fallbacks in that order)."""
    specs = [
        server.model_spec(name, quality=round(0.9 - 0.05 * i, 2)) for i, name in enumerate(models)
    ]
    settings = load_settings(
        models=specs,
        strategy="quality_first",
        timeout_s=5.0,
        reliability={**FAST, **reliability},
        load_entrypoints=False,
    )
    return make_muxer(specs, settings=settings, plugins=list(plugins))


async def _collect(muxer: Muxer, **kwargs: Any) -> list[StreamChunk]:
    return [chunk async for chunk in muxer.astream(PROMPT, **kwargs)]


# -- one retry loop -------------------------------------------------------------------------------


async def test_nothing_retries_behind_the_pipeline(
    make_muxer: MakeMuxer, server: FaultServer, litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # litellm's wrapper retries when num_retries is set globally, the openai SDK retries twice
    # by default: neither may, or one failed call would be three on the wire.
    monkeypatch.setattr(litellm, "num_retries", 3)
    server.always("primary", Fault(status=503))
    muxer = _muxer(make_muxer, server, models=("primary",))
    with pytest.raises(ProviderError) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.status_code == 503
    assert len(server.seen("primary")) == 1
    with pytest.raises(ProviderError):
        await _collect(muxer)
    assert len(server.seen("primary")) == 2


async def test_retries_are_the_pipelines_and_counted_on_the_wire(
    make_muxer: MakeMuxer, server: FaultServer, litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(litellm, "num_retries", 3)
    server.script("primary", Fault(status=500), Fault(status=502))
    events, recorder = Events(), Recorder()
    muxer = _muxer(
        make_muxer,
        server,
        events,
        recorder,
        models=("primary",),
        retry_on=["server_error"],
        max_retries=2,
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.text == "Hello from primary. All good."
    assert len(server.seen("primary")) == 3
    assert [a.outcome for a in completion.attempts] == ["failed", "failed", "accepted"]
    assert [(r.attempt, r.outcome) for r in recorder.records] == [
        (0, "error"),
        (1, "error"),
        (2, "ok"),
    ]
    assert "(retry 2 after server_error)" in recorder.records[2].reason
    retries = events.named("retry")
    assert [(e["model"], e["attempt"], e["error"]) for e in retries] == [
        (PRIMARY, 1, "ProviderError"),
        (PRIMARY, 2, "ProviderError"),
    ]
    assert [e["delay_s"] for e in retries] == [pytest.approx(0.01), pytest.approx(0.02)]


@pytest.mark.slow
async def test_retry_after_is_honoured(make_muxer: MakeMuxer, server: FaultServer) -> None:
    server.script("primary", Fault(status=429, retry_after="1"))
    events = Events()
    muxer = _muxer(
        make_muxer, server, events, models=("primary",), retry_on=["rate_limit"], max_retries=1
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == PRIMARY
    (retry,) = events.named("retry")
    assert retry["delay_s"] == pytest.approx(1.0)
    assert retry["error"] == "RateLimitedByProvider"
    first, second = server.seen("primary")
    assert second.at - first.at >= 0.95  # the provider asked for a second


async def test_a_retry_after_too_long_falls_back_at_once(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(status=429, retry_after="120"))
    events = Events()
    muxer = _muxer(make_muxer, server, events, retry_on=["rate_limit"], retry_after_max_s=5.0)
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == BACKUP
    assert len(server.seen("primary")) == 1
    assert events.named("retry") == []
    assert events.named("fallback") == [
        {"from_model": PRIMARY, "to_model": BACKUP, "reason": "rate_limit"}
    ]


# -- fallback before the first byte ---------------------------------------------------------------


async def test_a_slow_server_times_out_and_falls_back(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(delay_s=3.0))
    recorder = Recorder()
    muxer = _muxer(make_muxer, server, recorder)
    completion = await muxer.acomplete(PROMPT, timeout_s=0.2)
    assert completion.model == BACKUP
    failed, accepted = completion.attempts
    assert (failed.model, failed.outcome) == (PRIMARY, "failed")
    assert "no answer within 0.2 s" in (failed.error or "")
    assert accepted.model == BACKUP
    assert [(r.model, r.outcome) for r in recorder.records] == [
        (PRIMARY, "error"),
        (BACKUP, "ok"),
    ]
    assert (recorder.records[0].error or "").startswith("ProviderTimeout")
    assert recorder.records[1].reason.startswith(f"fallback from {PRIMARY} after timeout")
    assert f"{PRIMARY} failed (timeout); fell back to {BACKUP}" in completion.decision.reason


async def test_a_slow_single_model_raises_the_timeout(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(delay_s=3.0))
    muxer = _muxer(make_muxer, server, models=("primary",))
    with pytest.raises(ProviderTimeout) as info:
        await muxer.acomplete(PROMPT, timeout_s=0.2)
    assert info.value.timeout_s == pytest.approx(0.2)
    with pytest.raises(ProviderTimeout):
        await _collect(muxer, timeout_s=0.2)


@pytest.mark.parametrize("drop", ["before_headers", "after_headers"])
async def test_a_dropped_connection_is_retried_then_falls_back(
    make_muxer: MakeMuxer, server: FaultServer, drop: str
) -> None:
    server.always("primary", Fault(drop=drop))  # type: ignore[arg-type]
    events = Events()
    muxer = _muxer(make_muxer, server, events)  # defaults: connection errors are retried twice
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == BACKUP
    assert completion.text == "Hello from backup. All good."
    assert len(server.seen("primary")) == 3
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        (PRIMARY, "failed"),
        (PRIMARY, "failed"),
        (PRIMARY, "failed"),
        (BACKUP, "accepted"),
    ]
    assert [e["attempt"] for e in events.named("retry")] == [1, 2]
    assert events.named("fallback") == [
        {"from_model": PRIMARY, "to_model": BACKUP, "reason": "connection"}
    ]


async def test_a_stream_dropped_before_its_first_byte_falls_back(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(drop="before_headers"))
    recorder = Recorder()
    muxer = _muxer(make_muxer, server, recorder, max_retries=0)
    chunks = await _collect(muxer)
    completion = chunks[-1].completion
    assert completion is not None
    text = "".join(c.text for c in chunks[:-1])
    assert text == completion.text == "Hello from backup. All good."
    assert {c.model for c in chunks} == {BACKUP}
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        (PRIMARY, "failed"),
        (BACKUP, "accepted"),
    ]
    assert [(r.attempt, r.model, r.outcome, r.streamed) for r in recorder.records] == [
        (0, PRIMARY, "error", True),
        (1, BACKUP, "ok", True),
    ]
    assert recorder.records[0].usage.total_tokens == 0  # nothing came back: nothing used


async def test_a_stream_too_slow_to_start_falls_back(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(delay_s=3.0))
    muxer = _muxer(make_muxer, server)
    chunks = await _collect(muxer, timeout_s=0.2)
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.model == BACKUP
    assert "".join(c.text for c in chunks[:-1]) == "Hello from backup. All good."


async def test_a_prompt_too_long_for_a_model_falls_back_without_retrying(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    server.always("primary", Fault(status=400, body=body))
    events = Events()
    muxer = _muxer(make_muxer, server, events, retry_on=["connection", "server_error"])
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == BACKUP
    assert len(server.seen("primary")) == 1
    assert events.named("fallback")[0]["reason"] == "context_length"


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_a_client_error_neither_retries_nor_falls_back(
    make_muxer: MakeMuxer, server: FaultServer, status: int
) -> None:
    server.always("primary", Fault(status=status))
    muxer = _muxer(make_muxer, server, retry_on=["connection", "server_error", "rate_limit"])
    with pytest.raises(ProviderError) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.status_code == status
    assert KEY_VALUE not in str(info.value)
    assert len(server.seen("primary")) == 1
    assert server.seen("backup") == []


async def test_when_every_model_fails_the_last_error_is_raised(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(status=503))
    server.always("backup", Fault(status=429))
    server.always("third", Fault(status=500))
    recorder = Recorder()
    muxer = _muxer(
        make_muxer, server, recorder, models=("primary", "backup", "third"), max_fallbacks=1
    )
    with pytest.raises(RateLimitedByProvider) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.model == BACKUP
    assert server.seen("third") == []  # max_fallbacks=1
    assert [(r.attempt, r.model) for r in recorder.records] == [(0, PRIMARY), (1, BACKUP)]


# -- after the first byte -------------------------------------------------------------------------


async def test_a_stream_broken_mid_way_raises_without_repeating_text(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(fail_after_chunks=2))
    recorder = Recorder()
    muxer = _muxer(make_muxer, server, recorder, retry_on=["connection", "server_error"])
    received: list[StreamChunk] = []

    async def consume() -> None:
        async for chunk in muxer.astream(PROMPT):
            received.append(chunk)

    with pytest.raises(StreamInterrupted) as info:
        await consume()
    error = info.value
    # exactly what the server sent before it broke, once; no switch to the backup
    assert [c.text for c in received] == ["Hello", " from"]
    assert {c.model for c in received} == {PRIMARY}
    assert len(server.seen("primary")) == 1
    assert server.seen("backup") == []
    assert (error.model, error.chunks, error.characters) == (PRIMARY, 2, len("Hello from"))
    assert not error.retryable
    # the partial usage is recorded: the prompt plus the tokens received
    (record,) = recorder.records
    assert (record.model, record.outcome, record.streamed) == (PRIMARY, "error", True)
    assert record.usage.prompt_tokens > 0
    assert record.usage.completion_tokens > 0
    assert error.usage == record.usage
    assert error.cost_usd == pytest.approx(record.cost_usd)
    assert record.cost_usd > 0
    assert (record.error or "").startswith("StreamInterrupted")
    assert isinstance(recorder.ended[-1][1], StreamInterrupted)


async def test_a_stream_that_stalls_after_its_first_byte_raises(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(chunk_delay_s=3.0))
    muxer = _muxer(make_muxer, server, stream_idle_timeout_s=0.2)
    received: list[str] = []

    async def consume() -> None:
        async for chunk in muxer.astream(PROMPT):
            received.append(chunk.text)

    with pytest.raises(StreamInterrupted) as info:
        await consume()
    assert received == ["Hello"]
    assert isinstance(info.value.cause, ProviderTimeout)
    assert info.value.cause.timeout_s == pytest.approx(0.2)
    assert server.seen("backup") == []


# -- circuit breaker ------------------------------------------------------------------------------


async def test_the_breaker_opens_excludes_the_model_and_a_probe_closes_it(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    import asyncio

    server.always("primary", Fault(status=500))
    events = Events()
    muxer = _muxer(make_muxer, server, events, breaker={"failures": 2, "cooldown_s": 0.2})
    assert muxer.breakers is not None
    for _ in range(2):  # each fails on the primary, then the backup answers
        assert (await muxer.acomplete(PROMPT)).model == BACKUP
    assert [name for name, _ in events.seen if name.startswith("breaker")] == ["breaker.opened"]
    assert events.named("breaker.opened") == [{"model": PRIMARY, "failures": 2}]
    assert muxer.breakers.state(PRIMARY) == "open"

    # open: routing leaves the primary out, with the reason; the server sees no new request
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == BACKUP
    assert [a.model for a in completion.attempts] == [BACKUP]
    estimate = completion.decision.estimate(PRIMARY)
    assert estimate is not None
    assert (estimate.excluded or "").startswith("circuit open: 2 failures")
    assert len(server.seen("primary")) == 2

    # after the cool-down the next request probes the (now healthy) primary and closes it
    server.always("primary", Fault())
    await asyncio.sleep(0.3)
    probe = await muxer.acomplete(PROMPT)
    assert probe.model == PRIMARY
    assert muxer.breakers.state(PRIMARY) == "closed"
    assert [name for name, _ in events.seen if name.startswith("breaker")] == [
        "breaker.opened",
        "breaker.half_open",
        "breaker.closed",
    ]


# -- budgets stay consistent ----------------------------------------------------------------------


async def test_retries_and_fallbacks_leave_no_reservation_behind(
    make_muxer: MakeMuxer, server: FaultServer
) -> None:
    server.always("primary", Fault(drop="before_headers"))
    server.script("backup", Fault(status=500))
    recorder = Recorder()
    guard = BudgetGuard(
        MemoryBudgetStore(), [Budget(scope="org", subject="*", period="day", limit_usd="1")]
    )
    muxer = _muxer(
        make_muxer,
        server,
        recorder,
        guard,
        models=("primary", "backup"),
        retry_on=["connection", "server_error"],
    )
    acme = Identity(org="acme")
    completion = await muxer.acomplete(PROMPT, identity=acme, max_tokens=50)
    assert completion.model == BACKUP
    assert [a.outcome for a in completion.attempts] == ["failed"] * 4 + ["accepted"]
    (state,) = await guard.states(acme)
    assert state.reserved_usd == Decimal(0)
    charged = sum(Decimal(str(r.cost_usd)) for r in recorder.records)
    assert charged > 0
    assert state.spent_usd == pytest.approx(charged, abs=Decimal("0.000001"))

    streamed = await _collect(muxer, identity=acme, max_tokens=50)
    assert streamed[-1].completion is not None
    assert streamed[-1].completion.model == BACKUP
    (state,) = await guard.states(acme)
    assert state.reserved_usd == Decimal(0)
