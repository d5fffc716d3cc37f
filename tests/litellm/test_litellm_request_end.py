"""Requests routed on a LiteLLM Router end through ``modelmuxer_request_end``: once each, with
the answer or the error, so the audit log, request metrics and request logs see them."""

from __future__ import annotations

import asyncio
import gc
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from _audit_support import audit_settings, fetch_audit
from _fault_server import KEY_VALUE, Fault, FaultServer
from _litellm_support import (
    CHEAP,
    EASY,
    STRONG,
    MakeRouter,
    RecordSink,
    deployment,
    flush_litellm_logging,
    wait_for,
)
from _litellm_support import wait_for_records as wait

from modelmuxer import hookimpl
from modelmuxer.audit import AuditLog
from modelmuxer.budgets import Budget, BudgetGuard, BudgetState, MemoryBudgetStore
from modelmuxer.budgets.model import to_usd
from modelmuxer.context import RequestContext
from modelmuxer.errors import PluginError
from modelmuxer.types import Completion, Identity

pytestmark = pytest.mark.litellm


class Ends:
    """Collects ``modelmuxer_request_end`` broadcasts."""

    def __init__(self) -> None:
        self.ended: list[tuple[RequestContext, Completion | None, BaseException | None]] = []
        self._lock = threading.Lock()

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        with self._lock:
            self.ended.append((ctx, completion, error))

    async def wait(
        self, count: int
    ) -> list[tuple[RequestContext, Completion | None, BaseException | None]]:
        return await wait_for(self.ended, count, "request ends")


class Refuse:
    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        raise PluginError("refused by policy")


async def test_a_request_ends_once_with_its_answer(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    router, _ = make_router(
        [deployment("mini", "chat", CHEAP, answer="Paris."), deployment("4o", "chat", STRONG)],
        plugins=[ends],
    )
    answer = await router.acompletion(model="chat", messages=EASY, user="alice")
    (record,) = await wait(sink, 1)
    ((ctx, completion, error),) = await ends.wait(1)
    assert error is None
    assert completion is not None
    shown = answer._hidden_params["modelmuxer"]
    assert completion.request_id == ctx.request.request_id == shown["request_id"]
    assert (completion.text, completion.model, completion.finish_reason) == (
        "Paris.",
        "mini",
        "stop",
    )
    assert completion.decision.strategy == "hybrid"
    assert completion.decision.models == [shown["deployment"]]
    assert completion.cost_usd == pytest.approx(record.cost_usd)
    assert completion.usage == record.usage
    assert [(a.model, a.outcome) for a in completion.attempts] == [("mini", "accepted")]
    assert ctx.request.identity.user == "alice"
    await flush_litellm_logging()
    assert len(ends.ended) == 1


async def test_a_retried_request_ends_once_counting_the_failed_attempt(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    router, _ = make_router(
        [
            deployment("mini", "chat", CHEAP, answer="litellm.RateLimitError"),
            deployment("4o", "chat", STRONG, answer="ok"),
        ],
        router_kwargs={"num_retries": 2},
        plugins=[ends],
    )
    await router.acompletion(model="chat", messages=EASY)
    failed, ok = await wait(sink, 2)
    ((_, completion, error),) = await ends.wait(1)
    assert error is None
    assert completion is not None
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        ("mini", "failed"),
        ("4o", "accepted"),
    ]
    assert completion.cost_usd == pytest.approx(failed.cost_usd + ok.cost_usd)
    assert completion.model == "4o"


async def test_a_request_litellm_gives_up_on_ends_with_the_error(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    router, _ = make_router(
        [deployment("down", "chat", CHEAP, answer="litellm.InternalServerError")],
        router_kwargs={"num_retries": 1},
        plugins=[ends],
    )
    with pytest.raises(Exception, match="InternalServerError") as raised:
        await router.acompletion(model="chat", messages=EASY)
    await wait(sink, 1)
    ((_, completion, error),) = await ends.wait(1)
    assert completion is None
    assert error is raised.value


async def test_a_request_refused_while_routing_ends_with_the_refusal(
    make_router: MakeRouter,
) -> None:
    ends = Ends()
    router, _ = make_router([deployment("mini", "chat", CHEAP)], plugins=[ends, Refuse()])
    with pytest.raises(Exception, match="refused by policy"):
        await router.acompletion(model="chat", messages=EASY)
    ended = await ends.wait(1)
    assert len({ctx.request.request_id for ctx, _, _ in ended}) == len(ended) == 1
    (_, completion, error) = ended[0]
    assert completion is None
    assert isinstance(error, PluginError)


async def test_a_streamed_request_ends_with_the_whole_answer(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    router, _ = make_router(
        [deployment("mini", "chat", CHEAP, answer="one two three")], plugins=[ends]
    )
    stream = await router.acompletion(model="chat", messages=EASY, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks
    await wait(sink, 1)
    ((_, completion, error),) = await ends.wait(1)
    assert error is None
    assert completion is not None
    assert completion.text == "one two three"


def _served(server: FaultServer, ident: str) -> dict[str, object]:
    """A deployment of group ``chat`` that LiteLLM calls on the fault server (as gpt-4o-mini)."""
    params = {"model": CHEAP, "api_base": server.url, "api_key": KEY_VALUE}
    return {"model_name": "chat", "litellm_params": params, "model_info": {"id": ident}}


async def test_a_stream_that_breaks_while_read_ends_once_with_the_error_the_caller_saw(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    from litellm import CustomStreamWrapper

    ends = Ends()
    async with FaultServer() as server:
        server.script("gpt-4o-mini", Fault(fail_after_chunks=2))
        router, _ = make_router([_served(server, "breaks")], plugins=[ends])
        stream = await router.acompletion(model="chat", messages=EASY, stream=True)
        # still LiteLLM's stream, with its attributes
        assert isinstance(stream, CustomStreamWrapper)
        assert stream.custom_llm_provider == "openai"
        chunks: list[object] = []

        async def read() -> None:
            async for chunk in stream:
                chunks.append(chunk)

        with pytest.raises(Exception, match="Connection error") as raised:
            await read()
        assert chunks  # it broke mid-stream, after content reached the caller
        ((ctx, completion, error),) = await ends.wait(1)
        (record,) = await wait(sink, 1)
    assert completion is None
    assert error is raised.value
    assert ctx.request.request_id == record.request_id
    assert record.outcome != "ok"
    await flush_litellm_logging()
    assert len(ends.ended) == 1  # LiteLLM's failure event did not end it again


async def test_a_stream_failure_litellm_retries_does_not_end_the_request(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    async with FaultServer() as server:
        # the first attempt's stream breaks before its first chunk: LiteLLM retries it
        server.script("gpt-4o-mini", Fault(drop="after_headers"))
        router, _ = make_router(
            [_served(server, "flaky")], router_kwargs={"num_retries": 1}, plugins=[ends]
        )
        stream = await router.acompletion(model="chat", messages=EASY, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        ((_, completion, error),) = await ends.wait(1)
        assert len(server.seen("gpt-4o-mini")) == 2
    assert text == "Hello from gpt-4o-mini. All good."
    assert error is None
    assert completion is not None
    assert completion.text == text
    await flush_litellm_logging()
    assert len(ends.ended) == 1


async def test_a_sync_stream_that_breaks_ends_with_the_error_too(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    async with FaultServer() as server:
        server.script("gpt-4o-mini", Fault(fail_after_chunks=1))
        router, _ = make_router([_served(server, "breaks")], plugins=[ends])
        chunks: list[object] = []

        def read() -> None:  # in a thread: the fault server answers on this test's loop
            for chunk in router.completion(model="chat", messages=EASY, stream=True):
                chunks.append(chunk)

        with pytest.raises(Exception, match="Connection error") as raised:
            await asyncio.to_thread(read)
        assert chunks
        ((_, completion, error),) = await ends.wait(1)
    assert completion is None
    assert error is raised.value


async def test_a_stream_read_to_its_end_is_recorded_once_as_answered(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    from litellm import CustomStreamWrapper

    router, _ = make_router([deployment("mini", "chat", CHEAP, answer="one two")])
    stream = await router.acompletion(model="chat", messages=EASY, stream=True)
    assert isinstance(stream, CustomStreamWrapper)
    assert [c async for c in stream]
    await stream.aclose()  # closing an ended stream is no early stop
    del stream
    gc.collect()
    (record,) = await wait(sink, 1)
    assert record.outcome == "ok"
    await flush_litellm_logging()
    assert len(sink.records) == 1


async def _settled(guard: BudgetGuard) -> BudgetState:
    for _ in range(100):
        await flush_litellm_logging()
        (state,) = await guard.states(identity=Identity(org="acme"))
        if state.reserved_usd == 0:
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"the reservation was not settled: {state}")


@pytest.mark.parametrize("stop", ["aclose", "drop", "cancel"])
async def test_a_stream_its_reader_stops_is_recorded_settled_and_ended(
    make_router: MakeRouter, sink: RecordSink, stop: str
) -> None:
    """The reader stops after three chunks: closes the stream, drops it, or is cancelled while
    it waits for the fourth (a timeout; the proxy's reader when its client goes away)."""
    guard = BudgetGuard(
        MemoryBudgetStore(),
        [Budget(scope="org", subject="*", period="day", limit_usd=Decimal("1"))],
        low_water=0.0,
    )
    ends = Ends()
    text = " ".join(f"word{i}" for i in range(40))
    async with FaultServer() as server:
        delay = 0.2 if stop == "cancel" else 0.005  # the fourth chunk well after the timeout
        server.script("gpt-4o-mini", Fault(text=text, chunk_delay_s=delay))
        router, callback = make_router([_served(server, "long")], plugins=[ends, guard])

        async def read_three() -> list[str]:
            stream = await router.acompletion(
                model="chat", messages=EASY, stream=True, metadata={"org": "acme"}
            )
            got: list[str] = []
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
                if len(got) == 3:
                    break
            if stop == "aclose":
                await stream.aclose()
            elif stop == "cancel":
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.02):
                        await anext(stream)
            return got  # "drop", "cancel": the stream goes with this frame

        got = await read_three()
        gc.collect()
        (record,) = await wait(sink, 1)
        ((ctx, completion, error),) = await ends.wait(1)
        state = await _settled(guard)
    assert record.outcome == "cancelled"
    assert record.streamed
    assert record.error is not None
    assert "GeneratorExit" in record.error
    # the tokens received so far, priced: more than the prompt, less than the whole answer
    assert 0 < record.usage.completion_tokens < 40
    assert record.usage.prompt_tokens > 0
    assert record.cost_usd > 0
    assert state.spent_usd == to_usd(record.cost_usd)
    assert len(callback._holds) == 0
    assert completion is None
    assert isinstance(error, GeneratorExit)
    assert ctx.request.request_id == record.request_id
    assert "".join(got).strip()
    await flush_litellm_logging()
    assert (len(sink.records), len(ends.ended)) == (1, 1)


async def test_a_stream_closed_before_it_was_read_is_recorded_with_its_prompt(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    async with FaultServer() as server:
        server.script("gpt-4o-mini", Fault(chunk_delay_s=0.05))
        router, _ = make_router([_served(server, "unread")], plugins=[ends])
        stream = await router.acompletion(model="chat", messages=EASY, stream=True)
        await stream.aclose()
        (record,) = await wait(sink, 1)
        ((_, completion, error),) = await ends.wait(1)
    assert record.outcome == "cancelled"
    assert record.usage.prompt_tokens > 0  # the provider read the prompt
    assert record.usage.completion_tokens <= 2  # what LiteLLM read ahead, if anything
    assert record.cost_usd > 0
    assert completion is None
    assert isinstance(error, GeneratorExit)


async def test_a_sync_reader_that_stops_early_is_recorded_too(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    text = " ".join(f"word{i}" for i in range(40))
    async with FaultServer() as server:
        server.script("gpt-4o-mini", Fault(text=text, chunk_delay_s=0.005))
        router, _ = make_router([_served(server, "long")], plugins=[ends])

        def read_two() -> int:  # in a thread: the fault server answers on this test's loop
            chunks = router.completion(model="chat", messages=EASY, stream=True)
            count = 0
            for _ in chunks:
                count += 1
                if count == 2:
                    break
            chunks.close()  # type: ignore[attr-defined]
            return count

        assert await asyncio.to_thread(read_two) == 2
        (record,) = await wait(sink, 1)
        ((_, completion, error),) = await ends.wait(1)
    assert record.outcome == "cancelled"
    assert 0 < record.usage.completion_tokens < 40
    assert completion is None
    assert isinstance(error, GeneratorExit)


@pytest.mark.parametrize("client", ["reads_all", "goes_away"])
async def test_the_proxy_streaming_hook_watches_the_stream(
    make_router: MakeRouter, sink: RecordSink, client: str
) -> None:
    """As the proxy runs it: its pre-call hook opens the slot, its router (no ``register``
    wrapper) returns the stream, and the client reads it through the callback's iterator hook."""
    from modelmuxer_litellm.lifecycle import fresh_slot

    ends = Ends()
    text = " ".join(f"word{i}" for i in range(40))
    async with FaultServer() as server:
        server.script("gpt-4o-mini", Fault(text=text, chunk_delay_s=0.005))
        router, callback = make_router([_served(server, "proxied")], plugins=[ends])
        fresh_slot()
        stream = await router.acompletion.__wrapped__(model="chat", messages=EASY, stream=True)
        relayed = callback.async_post_call_streaming_iterator_hook(None, stream, {})
        if client == "reads_all":
            chunks = [chunk async for chunk in relayed]
        else:
            chunks = [await anext(relayed) for _ in range(3)]
            await relayed.aclose()  # what the proxy does when its client disconnects
        (record,) = await wait(sink, 1)
        ((ctx, completion, error),) = await ends.wait(1)
    assert chunks
    assert ctx.request.request_id == record.request_id
    if client == "reads_all":
        assert record.outcome == "ok"
        assert completion is not None
        assert completion.text == text
    else:
        assert record.outcome == "cancelled"
        assert 0 < record.usage.completion_tokens < 40
        assert completion is None
        assert isinstance(error, GeneratorExit)
    await flush_litellm_logging()
    assert (len(sink.records), len(ends.ended)) == (1, 1)


async def test_a_sync_request_ends_too(make_router: MakeRouter, sink: RecordSink) -> None:
    ends = Ends()
    router, _ = make_router([deployment("mini", "chat", CHEAP, answer="sync")], plugins=[ends])
    answer = router.completion(model="chat", messages=EASY)
    assert answer.choices[0].message.content == "sync"
    ((_, completion, _),) = await ends.wait(1)
    assert completion is not None
    assert completion.text == "sync"


async def test_requests_through_the_router_are_audited(
    make_router: MakeRouter, sink: RecordSink, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    with AuditLog(audit_settings(url, tmp_path)) as audit:
        router, _ = make_router(
            [
                deployment("mini", "chat", CHEAP),
                deployment("down", "broken", CHEAP, answer="litellm.InternalServerError"),
            ],
            plugins=[audit],
        )
        answer = await router.acompletion(
            model="chat", messages=EASY, user="ann", metadata={"org": "acme"}
        )
        with pytest.raises(Exception, match="InternalServerError"):
            await router.acompletion(model="broken", messages=EASY, user="bob")
        await wait(sink, 2)
        await flush_litellm_logging()
        assert audit.flush()
    rows = await asyncio.to_thread(fetch_audit, url)
    by_user = {row["user"]: row for row in rows}
    assert len(rows) == 2
    assert by_user["ann"]["request_id"] == answer._hidden_params["modelmuxer"]["request_id"]
    assert (by_user["ann"]["org"], by_user["ann"]["outcome"], by_user["ann"]["model"]) == (
        "acme",
        "ok",
        "mini",
    )
    assert by_user["bob"]["outcome"] == "error"
    assert by_user["ann"]["cost_usd"] > 0


async def test_concurrent_requests_each_end_once_with_their_own_answer(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    ends = Ends()
    router, _ = make_router(
        [
            deployment("mini", "chat", CHEAP),
            deployment("down", "broken", CHEAP, answer="litellm.InternalServerError"),
        ],
        plugins=[ends],
    )

    async def ask(n: int) -> str:
        group = "broken" if n % 5 == 0 else "chat"
        try:
            answer = await router.acompletion(model=group, messages=EASY, user=f"u{n}")
        except Exception:  # the broken group's requests fail: that is their end
            return f"u{n}"
        return str(answer._hidden_params["modelmuxer"]["request_id"])

    returned = await asyncio.gather(*(ask(n) for n in range(40)))
    await wait(sink, 40)
    ended = await ends.wait(40)
    await flush_litellm_logging()
    assert len(ends.ended) == 40
    by_user = {
        ctx.request.identity.user: (ctx, completion, error) for ctx, completion, error in ended
    }
    assert len(by_user) == 40  # each request ended once
    for n, value in enumerate(returned):
        ctx, completion, error = by_user[f"u{n}"]
        if n % 5 == 0:
            assert completion is None
            assert error is not None
        else:
            assert error is None
            assert completion is not None
            assert completion.request_id == ctx.request.request_id == value


async def test_a_request_through_the_router_gets_its_request_span(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from modelmuxer.telemetry.tracing import REQUEST_SPAN, TracingPlugin

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    router, _ = make_router(
        [deployment("mini", "chat", CHEAP)], plugins=[TracingPlugin(tracer_provider=provider)]
    )
    answer = await router.acompletion(model="chat", messages=EASY)
    (record,) = await wait(sink, 1)
    (span,) = [s for s in exporter.get_finished_spans() if s.name == REQUEST_SPAN]
    attributes = span.attributes or {}
    shown = answer._hidden_params["modelmuxer"]
    assert attributes["modelmuxer.request_id"] == shown["request_id"]
    assert attributes["gen_ai.response.model"] == "mini"
    assert attributes["modelmuxer.strategy"] == "hybrid"
    # made when the request ended, but back-dated to when routing began: before the call ended
    call_end_ns = (record.started_at.timestamp() + record.latency_s) * 1e9
    assert span.start_time is not None
    assert span.start_time <= call_end_ns


async def test_a_request_a_budget_refuses_ends_once_with_the_refusal(
    make_router: MakeRouter,
) -> None:
    from decimal import Decimal

    from modelmuxer import BudgetExceeded
    from modelmuxer.budgets import Budget, BudgetGuard, MemoryBudgetStore

    ends = Ends()
    nothing = Budget(scope="org", subject="*", period="day", limit_usd=Decimal("0.0000001"))
    guard = BudgetGuard(MemoryBudgetStore(), [nothing], low_water=0.0)
    router, _ = make_router([deployment("mini", "chat", CHEAP)], plugins=[ends, guard])
    with pytest.raises(BudgetExceeded):
        await router.acompletion(
            model="chat", messages=EASY, max_tokens=200, metadata={"org": "acme"}
        )
    ((ctx, completion, error),) = await ends.wait(1)
    await flush_litellm_logging()
    assert len(ends.ended) == 1
    assert completion is None
    assert isinstance(error, BudgetExceeded)
    assert ctx.request.identity.org == "acme"
