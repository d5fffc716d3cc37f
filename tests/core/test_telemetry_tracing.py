"""OpenTelemetry spans, collected with the in-memory exporter: the request span is the parent of
the attempt spans, the caller's span is the parent of the request span (also across the sync
bridge), attributes follow the GenAI conventions, and no prompt text leaks by default."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Generator, Mapping, Sequence
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, PassThrough
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, ProxyTracerProvider, SpanKind, StatusCode

from modelmuxer import Muxer, ProviderTimeout, hookimpl
from modelmuxer.backends import ModelCall, ModelResponse, StreamDelta
from modelmuxer.config import MuxerSettings
from modelmuxer.context import RequestContext
from modelmuxer.events import emit
from modelmuxer.telemetry import TracingPlugin, tracing
from modelmuxer.telemetry.tracing import REQUEST_SPAN, provider_name

MINI, FOUR_O = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
PROMPT = "Explain how photosynthesis turns light into sugar."


@pytest.fixture(autouse=True, params=["direct", "live"])
def span_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with direct spans (what the SDK's simple processor gets) and with the
    SDK's own spans (what any other processor gets)."""
    if request.param == "live":
        monkeypatch.setattr(tracing, "_direct_spans", lambda tracer: None)
    return str(request.param)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture(params=["direct_call", "pluggy_call"])
def traced(
    request: pytest.FixtureRequest, make_muxer: MakeMuxer, provider: TracerProvider
) -> Muxer:
    """A traced muxer; every test that uses it runs with the attempt-span wrapper called
    directly by the pipeline and called by pluggy among other wrappers."""
    muxer = make_muxer(OFFLINE_MODELS)
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    if request.param == "pluggy_call":
        muxer.plugins.register(PassThrough())
    return muxer


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _tree(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The one request span and its attempt spans (in attempt order)."""
    spans = exporter.get_finished_spans()
    (request,) = _by_name(spans, REQUEST_SPAN)
    attempts = [s for s in spans if s.name.startswith("chat ")]
    for attempt in attempts:
        assert _parent_id(attempt) == request.context.span_id
        assert attempt.context.trace_id == request.context.trace_id
    return request, sorted(attempts, key=lambda s: s.attributes["modelmuxer.attempt"])


async def test_the_request_span_is_the_parent_of_its_attempt(
    traced: Muxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    outer = provider.get_tracer("test").start_as_current_span("langchain.chain")
    with outer as chain:
        completion = await traced.acomplete(PROMPT, model=MINI, temperature=0.2, max_tokens=300)
    request, (attempt,) = _tree(exporter)
    assert _parent_id(request) == chain.get_span_context().span_id
    assert request.kind is SpanKind.INTERNAL
    assert request.start_time <= attempt.start_time
    assert attempt.end_time <= request.end_time
    assert attempt.name == f"chat {MINI}"
    assert attempt.kind is SpanKind.CLIENT
    a = attempt.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == MINI
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 300
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["gen_ai.response.finish_reasons"] == (completion.finish_reason,)
    assert a["modelmuxer.cost_usd"] == pytest.approx(completion.cost_usd)
    r = request.attributes
    assert r["modelmuxer.request_id"] == completion.request_id
    assert r["gen_ai.response.model"] == MINI
    assert r["modelmuxer.decision.reason"] == completion.decision.reason
    assert r["modelmuxer.cost_usd"] == pytest.approx(completion.cost_usd)
    assert "gen_ai.usage.input_tokens" not in r  # tokens are counted once, on the attempts


async def test_a_cascade_has_one_attempt_span_per_model(
    traced: Muxer, exporter: InMemorySpanExporter
) -> None:
    completion = await traced.acomplete(
        PROMPT, strategy="cascade", metadata={"offline": {"refuse": True}}
    )
    request, attempts = _tree(exporter)
    assert [a.attributes["gen_ai.request.model"] for a in attempts] == [
        x.model for x in completion.attempts
    ]
    assert len(attempts) >= 2
    assert [a.attributes["modelmuxer.attempt"] for a in attempts] == list(range(len(attempts)))
    assert request.attributes["modelmuxer.escalations"] == len(attempts) - 1
    assert request.attributes["modelmuxer.strategy"] == "cascade"
    assert list(request.attributes["modelmuxer.decision.models"]) == completion.decision.models


def test_the_callers_span_crosses_the_sync_bridge(
    traced: Muxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    parents: dict[str, int] = {}

    def call(name: str) -> None:
        with tracer.start_as_current_span(name) as outer:
            parents[name] = outer.get_span_context().span_id
            traced.complete(f"{PROMPT} ({name})", model=MINI)

    threads = [threading.Thread(target=call, args=(f"web-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = exporter.get_finished_spans()
    requests = _by_name(spans, REQUEST_SPAN)
    assert sorted(_parent_id(r) or 0 for r in requests) == sorted(parents.values())
    for request in requests:
        (attempt,) = [s for s in spans if _parent_id(s) == request.context.span_id]
        assert attempt.name == f"chat {MINI}"


def test_a_sync_stream_keeps_its_spans_together(
    traced: Muxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("test").start_as_current_span("outer") as outer:
        chunks = list(traced.stream(PROMPT, model=FOUR_O))
    assert chunks[-1].completion is not None
    request, (attempt,) = _tree(exporter)
    assert _parent_id(request) == outer.get_span_context().span_id
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert attempt.attributes["modelmuxer.ttft_s"] >= 0
    assert request.attributes["modelmuxer.stream"] is True


async def test_a_stream_stopped_early_ends_its_spans(
    traced: Muxer, exporter: InMemorySpanExporter
) -> None:
    stream = traced.astream(PROMPT * 5, model=FOUR_O)
    async for chunk in stream:
        if chunk.text:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    request, (attempt,) = _tree(exporter)
    assert attempt.attributes["modelmuxer.cancelled"] is True
    assert request.attributes["modelmuxer.cancelled"] is True
    assert request.status.status_code is StatusCode.UNSET


class SpanProbe:
    """A wrapper inside the tracing one: what a backend sees as the current span."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("backend")
        self.seen: list[int] = []

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        inner = yield

        async def call_provider() -> ModelResponse:
            self.seen.append(trace.get_current_span().get_span_context().span_id)
            with self.tracer.start_as_current_span("litellm.completion"):
                return await inner

        return call_provider()

    @hookimpl(wrapper=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
        inner = yield

        async def stream_provider() -> AsyncIterator[StreamDelta]:
            async for delta in inner:
                self.seen.append(trace.get_current_span().get_span_context().span_id)
                yield delta

        return stream_provider()


async def test_the_attempt_span_is_current_while_the_model_is_called(
    make_muxer: MakeMuxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    probe = SpanProbe(provider)
    muxer = make_muxer(OFFLINE_MODELS, plugins=[probe])
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    await muxer.acomplete(PROMPT, model=MINI)
    _, (attempt,) = _tree(exporter)
    assert probe.seen == [attempt.context.span_id]
    (backend,) = _by_name(exporter.get_finished_spans(), "litellm.completion")
    assert _parent_id(backend) == attempt.context.span_id
    exporter.clear()
    probe.seen.clear()
    chunks = [c async for c in muxer.astream(PROMPT, model=MINI)]
    _, (attempt,) = _tree(exporter)
    assert len(probe.seen) >= 2
    assert set(probe.seen) == {attempt.context.span_id}
    assert chunks[-1].completion is not None


async def test_failures_mark_the_spans(traced: Muxer, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(Exception, match="simulated bad request"):
        await traced.acomplete(PROMPT, model=MINI, metadata={"offline": {"fail": "bad_request"}})
    request, attempts = _tree(exporter)
    assert attempts
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[0].attributes["error.type"] == "ProviderError"
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "ProviderError"


async def test_a_timed_out_call_is_an_error_not_a_cancellation(
    make_muxer: MakeMuxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    settings = MuxerSettings(
        reliability={"max_retries": 0, "max_fallbacks": 0}, load_entrypoints=False
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    with pytest.raises(ProviderTimeout):
        await muxer.acomplete(
            PROMPT, model=MINI, timeout_s=0.02, metadata={"offline": {"latency_s": 2.0}}
        )
    request, (attempt,) = _tree(exporter)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes["error.type"] == "ProviderTimeout"
    assert request.attributes["error.type"] == "ProviderTimeout"


async def test_a_cache_hit_is_a_request_span_without_attempts(
    make_muxer: MakeMuxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    settings = MuxerSettings(cache={"enabled": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    await muxer.acomplete(PROMPT)
    exporter.clear()
    hit = await muxer.acomplete(PROMPT)
    (request,) = exporter.get_finished_spans()
    assert request.name == REQUEST_SPAN
    assert request.attributes["modelmuxer.cache"] == "exact"
    assert request.attributes["modelmuxer.saved_usd"] == pytest.approx(hit.saved_usd)


async def test_no_prompt_text_on_spans_unless_asked(
    make_muxer: MakeMuxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    secret = "my passport number is X1234567"
    quiet = make_muxer(OFFLINE_MODELS)
    quiet.telemetry.enable_tracing(tracer_provider=provider)
    completion = await quiet.acomplete(f"Repeat after me: {secret}", model=MINI)
    for span in exporter.get_finished_spans():
        for value in span.attributes.values():
            assert "X1234567" not in str(value)
            assert completion.text not in str(value)
    exporter.clear()
    settings = MuxerSettings(telemetry={"capture_content": True}, load_entrypoints=False)
    chatty = make_muxer(OFFLINE_MODELS, settings=settings)
    chatty.telemetry.enable_tracing(tracer_provider=provider)
    completion = await chatty.acomplete(f"Repeat after me: {secret}", model=MINI)
    _, (attempt,) = _tree(exporter)
    assert "X1234567" in attempt.attributes["gen_ai.input.messages"]
    assert '"role": "user"' in attempt.attributes["gen_ai.input.messages"]
    assert completion.text[:20] in attempt.attributes["gen_ai.output.messages"]


class Redactor:
    """Emits an event while the request starts, as PII redaction does."""

    def __init__(self, muxer: Muxer) -> None:
        self.muxer = muxer

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        emit(self.muxer.plugins, "pii.redacted", ctx, counts={"email": 1})


async def test_events_become_span_events(traced: Muxer, exporter: InMemorySpanExporter) -> None:
    traced.plugins.register(Redactor(traced))
    await traced.acomplete(PROMPT, model=MINI)
    request, _ = _tree(exporter)
    (event,) = request.events
    assert event.name == "modelmuxer.pii.redacted"
    assert event.attributes == {"counts.email": 1}


async def test_concurrent_requests_keep_their_own_parents(
    traced: Muxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")

    async def one(i: int) -> tuple[int, str]:
        with tracer.start_as_current_span(f"task-{i}") as outer:
            completion = await traced.acomplete(f"{PROMPT} {i}", model=MINI)
            return outer.get_span_context().span_id, completion.request_id

    pairs = await asyncio.gather(*(one(i) for i in range(4)))
    requests = {
        r.attributes["modelmuxer.request_id"]: r
        for r in _by_name(exporter.get_finished_spans(), REQUEST_SPAN)
    }
    for parent, request_id in pairs:
        assert _parent_id(requests[request_id]) == parent


async def test_without_a_tracer_provider_no_span_is_made(make_muxer: MakeMuxer) -> None:
    if not isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        pytest.skip("a global tracer provider was set by another test")
    muxer = make_muxer(OFFLINE_MODELS)
    plugin = muxer.telemetry.enable_tracing()
    assert plugin.tracer() is None
    completion = await muxer.acomplete(PROMPT, model=MINI)
    assert completion.text
    chunks = [c async for c in muxer.astream(PROMPT, model=MINI)]
    assert chunks[-1].completion is not None


async def test_a_global_provider_set_later_is_used_from_the_next_request(
    make_muxer: MakeMuxer,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current: list[trace.TracerProvider] = [ProxyTracerProvider()]
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: current[0])
    muxer = make_muxer(OFFLINE_MODELS)
    calls = muxer.plugins.hook.modelmuxer_call_model
    base = len(calls.get_hookimpls())
    TracingPlugin(provider_check_s=0.0).register(muxer.plugins)  # looks at every request
    assert len(calls.get_hookimpls()) == base  # no provider: no wrapper around model calls
    await muxer.acomplete(PROMPT, model=MINI)
    assert exporter.get_finished_spans() == ()
    current[0] = provider
    await muxer.acomplete(PROMPT, model=MINI)  # its request span is made at its end
    assert [s.name for s in exporter.get_finished_spans()] == [REQUEST_SPAN]
    assert len(calls.get_hookimpls()) == base + 1
    exporter.clear()
    await muxer.acomplete(PROMPT, model=MINI)
    _tree(exporter)
    current[0] = ProxyTracerProvider()
    await muxer.acomplete(PROMPT, model=MINI)
    assert len(calls.get_hookimpls()) == base


def _sampled(exporter: InMemorySpanExporter, sampler: Sampler) -> TracerProvider:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def test_a_dropped_trace_records_nothing_but_keeps_its_context(
    make_muxer: MakeMuxer, exporter: InMemorySpanExporter
) -> None:
    provider = _sampled(exporter, ParentBased(ALWAYS_OFF))
    probe = SpanProbe(provider)
    muxer = make_muxer(OFFLINE_MODELS, plugins=[probe])
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    completion = await muxer.acomplete(PROMPT, model=MINI)
    assert completion.text
    assert exporter.get_finished_spans() == ()
    # the backend still runs inside the (unrecorded) attempt span: its trace id is propagated
    (seen,) = probe.seen
    assert seen != 0


class _KeepIf(Sampler):
    """A sampler deciding with :meth:`keep`, which sees the span's name, kind and attributes."""

    def keep(self, name: str, kind: SpanKind | None, attributes: dict[str, Any]) -> bool:
        raise NotImplementedError

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        keep = self.keep(name, kind, dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE if keep else Decision.DROP, attributes)

    def get_description(self) -> str:
        return type(self).__name__


class ClientOnly(_KeepIf):
    """Keeps model calls (CLIENT spans) only, and remembers what it was shown at their start."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, dict[str, Any]]] = []

    def keep(self, name: str, kind: SpanKind | None, attributes: dict[str, Any]) -> bool:
        self.shown.append((name, attributes))
        return kind is SpanKind.CLIENT


async def test_a_sampler_sees_the_model_and_the_attempt_span_is_kept_on_its_own(
    make_muxer: MakeMuxer, exporter: InMemorySpanExporter
) -> None:
    sampler = ClientOnly()
    muxer = make_muxer(OFFLINE_MODELS)
    muxer.telemetry.enable_tracing(tracer_provider=_sampled(exporter, sampler))
    completion = await muxer.acomplete(PROMPT, model=MINI, temperature=0.3)
    (attempt,) = exporter.get_finished_spans()  # the request span was dropped, not its attempt
    assert attempt.name == f"chat {MINI}"
    assert attempt.parent is not None
    assert attempt.parent.span_id != 0
    shown = dict(sampler.shown)
    assert shown[f"chat {MINI}"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MINI,
    }
    a = attempt.attributes
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["modelmuxer.attempt"] == 0


class EveryOther(_KeepIf):
    """Samples every other new trace."""

    def __init__(self) -> None:
        self.roots = 0

    def keep(self, name: str, kind: SpanKind | None, attributes: dict[str, Any]) -> bool:
        self.roots += 1
        return self.roots % 2 == 1


async def test_a_parent_based_sampler_keeps_whole_trees(
    make_muxer: MakeMuxer, exporter: InMemorySpanExporter
) -> None:
    muxer = make_muxer(OFFLINE_MODELS)
    muxer.telemetry.enable_tracing(tracer_provider=_sampled(exporter, ParentBased(EveryOther())))
    answered = [await muxer.acomplete(f"{PROMPT} ({i})", model=MINI) for i in range(4)]
    spans = exporter.get_finished_spans()
    requests = _by_name(spans, REQUEST_SPAN)
    assert [r.attributes["modelmuxer.request_id"] for r in requests] == [
        answered[0].request_id,
        answered[2].request_id,
    ]
    attempts = [s for s in spans if s.name.startswith("chat ")]
    assert sorted(_parent_id(a) or 0 for a in attempts) == sorted(
        r.context.span_id for r in requests
    )
    for request in requests:  # a kept request span has every attribute, set when it ended
        assert request.attributes["gen_ai.response.model"] == MINI
        assert request.attributes["modelmuxer.strategy"]


def test_the_tracing_setting_registers_the_plugin(make_muxer: MakeMuxer) -> None:
    settings = MuxerSettings(telemetry={"tracing": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    assert isinstance(muxer.telemetry.tracing, TracingPlugin)
    assert muxer.plugins.get_plugin("modelmuxer.telemetry.tracing") is muxer.telemetry.tracing
    assert muxer.telemetry.enable_tracing() is muxer.telemetry.tracing


async def test_enabling_tracing_again_applies_the_provider_it_is_given(
    make_muxer: MakeMuxer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # tracing on from the settings (MODELMUXER_TELEMETRY), then the documented call: the
    # provider (and capture_content) used to be ignored, so no span was ever exported
    settings = MuxerSettings(telemetry={"tracing": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    plugin = muxer.telemetry.tracing
    again = muxer.telemetry.enable_tracing(tracer_provider=provider, capture_content=True)
    assert again is plugin
    await muxer.acomplete(PROMPT, model=MINI)
    _, (attempt,) = _tree(exporter)
    assert PROMPT in str(attempt.attributes["gen_ai.input.messages"])
    assert muxer.telemetry.settings.capture_content


@pytest.mark.parametrize(
    ("provider", "expected"),
    [("openai", "openai"), ("mistral", "mistral_ai"), ("bedrock", "aws.bedrock"), ("x", "x")],
)
def test_provider_names_follow_the_conventions(provider: str, expected: str) -> None:
    assert provider_name(provider) == expected
