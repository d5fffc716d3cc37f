"""Direct spans (:mod:`modelmuxer.telemetry._direct`): used only where they cannot differ from
the SDK's own, and then the same spans: tree, ids from the provider's id generator, sampler
decisions, attributes, events, status. (The span tree itself is checked in both modes by
test_telemetry_tracing.py.)"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Generator
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import (
    ReadableSpan,
    Span,
    SpanLimits,
    SpanProcessor,
    TracerProvider,
    sampling,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.span import TraceState

from modelmuxer import Muxer, hookimpl
from modelmuxer.backends import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.telemetry._direct import DirectSpan, DirectSpans
from modelmuxer.telemetry.tracing import REQUEST_SPAN

PROMPT = "Explain how photosynthesis turns light into sugar."
MINI = "offline/openai/gpt-4o-mini"


class CurrentSpanProbe:
    """Remembers the span that is current while each model is called."""

    def __init__(self) -> None:
        self.seen: list[trace.Span] = []

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        inner = yield

        async def probed() -> ModelResponse:
            self.seen.append(trace.get_current_span())
            return await inner

        return probed()


class StampOnStart(SpanProcessor):
    """A processor that acts when a span starts (as baggage or vendor processors do)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute("test.stamped", True)


def _provider(exporter: InMemorySpanExporter, **options: Any) -> TracerProvider:
    provider = TracerProvider(**options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _muxer(
    make_muxer: MakeMuxer, provider: TracerProvider, **options: Any
) -> tuple[Muxer, CurrentSpanProbe]:
    probe = CurrentSpanProbe()
    muxer = make_muxer(OFFLINE_MODELS, plugins=[probe])
    muxer.telemetry.enable_tracing(tracer_provider=provider, **options)
    return muxer, probe


_VARYING = {"modelmuxer.request_id", "modelmuxer.ttft_s"}  # an id, a time


def _shape(spans: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    """What a span says, without its ids and times (the parent as the parent's name)."""
    names = {s.context.span_id: s.name for s in spans if s.context is not None}
    return sorted(
        (
            s.name,
            s.kind,
            names.get(s.parent.span_id) if s.parent is not None else None,
            tuple(sorted((k, v) for k, v in (s.attributes or {}).items() if k not in _VARYING)),
            tuple(e.name for e in s.events),
            s.status.status_code,
            s.context.trace_flags.sampled if s.context is not None else None,
        )
        for s in spans
    )


async def test_the_sdk_processors_get_direct_spans(make_muxer: MakeMuxer) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    muxer, probe = _muxer(make_muxer, provider)
    await muxer.acomplete(PROMPT, model=MINI)
    (current,) = probe.seen
    assert isinstance(current, DirectSpan)
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} == {REQUEST_SPAN, f"chat {MINI}"}
    provider.shutdown()


async def test_direct_spans_say_what_the_sdk_spans_say(make_muxer: MakeMuxer) -> None:
    shapes = []
    for live in (False, True):
        exporter = InMemorySpanExporter()
        muxer, probe = _muxer(make_muxer, _provider(exporter), live_spans=live)
        await muxer.acomplete(PROMPT, model=MINI, temperature=0.2, max_tokens=50)
        async for _ in muxer.astream(f"{PROMPT} Stream it.", model=MINI):
            pass
        assert isinstance(probe.seen[0], DirectSpan) is not live
        shapes.append(_shape(exporter.get_finished_spans()))
    assert shapes[0] == shapes[1]
    assert len(shapes[0]) == 4  # two requests, two attempts


async def test_a_processor_acting_on_span_starts_gets_the_sdks_spans(
    make_muxer: MakeMuxer,
) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    provider.add_span_processor(StampOnStart())
    muxer, probe = _muxer(make_muxer, provider)
    await muxer.acomplete(PROMPT, model=MINI)
    assert not isinstance(probe.seen[0], DirectSpan)
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    assert all(s.attributes is not None and s.attributes["test.stamped"] for s in spans)


async def test_a_processor_added_later_is_served_from_the_next_span(
    make_muxer: MakeMuxer,
) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    muxer, probe = _muxer(make_muxer, provider)
    await muxer.acomplete(PROMPT, model=MINI)
    provider.add_span_processor(StampOnStart())
    await muxer.acomplete(f"{PROMPT} Again.", model=MINI)
    assert isinstance(probe.seen[0], DirectSpan)
    assert not isinstance(probe.seen[1], DirectSpan)
    stamped = [s for s in exporter.get_finished_spans() if "test.stamped" in (s.attributes or {})]
    assert len(stamped) == 2


async def test_tight_span_limits_get_the_sdks_spans(make_muxer: MakeMuxer) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter, span_limits=SpanLimits(max_span_attribute_length=8))
    muxer, probe = _muxer(make_muxer, provider)
    await muxer.acomplete(PROMPT, model=MINI)
    assert not isinstance(probe.seen[0], DirectSpan)
    (request,) = [s for s in exporter.get_finished_spans() if s.name == REQUEST_SPAN]
    assert len(str(request.attributes["modelmuxer.strategy"])) <= 8  # the SDK cut it


class Counting(IdGenerator):
    """Ids from counters (as a vendor's id generator, e.g. X-Ray's, makes its own)."""

    def __init__(self) -> None:
        self.spans = 0x1000

    def generate_span_id(self) -> int:
        self.spans += 1
        return self.spans

    def generate_trace_id(self) -> int:
        return 0xABC


async def test_ids_come_from_the_providers_id_generator(make_muxer: MakeMuxer) -> None:
    exporter = InMemorySpanExporter()
    muxer, _ = _muxer(make_muxer, _provider(exporter, id_generator=Counting()))
    await muxer.acomplete(PROMPT, model=MINI)
    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans if s.context} == {0xABC}
    assert {s.context.span_id for s in spans if s.context} == {0x1001, 0x1002}


class Tagging(Sampler):
    """Records request spans without sampling them, samples the rest with an attribute and a
    trace state of its own."""

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if name == REQUEST_SPAN:
            return SamplingResult(Decision.RECORD_ONLY, attributes)
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE,
            {**(attributes or {}), "sampler.said": "yes"},
            TraceState([("vendor", "v1")]),
        )

    def get_description(self) -> str:
        return "Tagging"


async def test_the_samplers_decision_attributes_and_trace_state_are_kept(
    make_muxer: MakeMuxer,
) -> None:
    exporter = InMemorySpanExporter()
    muxer, probe = _muxer(make_muxer, _provider(exporter, sampler=Tagging()))
    await muxer.acomplete(PROMPT, model=MINI)
    assert isinstance(probe.seen[0], DirectSpan)
    (attempt,) = exporter.get_finished_spans()  # the request span recorded, not sampled
    assert attempt.attributes is not None
    assert attempt.attributes["sampler.said"] == "yes"
    assert attempt.context is not None
    assert attempt.context.trace_state.get("vendor") == "v1"
    assert attempt.parent is not None
    assert not attempt.parent.trace_flags.sampled


def _pair() -> tuple[trace.Span, trace.Span, InMemorySpanExporter]:
    """A direct span and an SDK span of the same provider, exported to the same exporter."""
    exporter = InMemorySpanExporter()
    tracer = _provider(exporter).get_tracer("test")
    direct = DirectSpans.of(tracer)
    assert direct is not None
    return direct.start_span("s"), tracer.start_span("s"), exporter


def test_a_direct_span_follows_the_span_api_as_the_sdks_span_does() -> None:
    direct, sdk, exporter = _pair()
    link = SpanContext(0x1, 0x2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    for span in (direct, sdk):
        span.set_attribute("list", [1, 2, 3])
        span.set_attributes({"ok": "yes", "n": 3, "f": 0.5, "flag": False})
        span.set_attribute("bad", {"a": 1})  # type: ignore[arg-type]  # dropped, as by the SDK
        span.add_event("e", {"k": "v"}, timestamp=5)
        span.add_link(link, {"why": "test"})
        span.update_name("renamed")
        span.set_status(Status(StatusCode.ERROR, "first"))
        span.set_status(StatusCode.UNSET)  # ignored
        try:
            raise ValueError("boom")
        except ValueError as exc:
            span.record_exception(exc, {"extra": 1}, timestamp=7)
        span.end()
        span.end()  # once only
        span.set_attribute("late", 1)  # after the end: ignored
    mine, theirs = exporter.get_finished_spans()
    assert isinstance(direct, DirectSpan)
    assert not isinstance(sdk, DirectSpan)
    assert mine.name == theirs.name == "renamed"
    assert dict(mine.attributes or {}) == dict(theirs.attributes or {})
    assert mine.status.status_code is theirs.status.status_code is StatusCode.ERROR
    assert mine.status.description == theirs.status.description == "first"
    assert [(e.name, e.timestamp) for e in mine.events] == [
        (e.name, e.timestamp) for e in theirs.events
    ]
    assert dict(mine.events[1].attributes or {}) == dict(theirs.events[1].attributes or {})
    assert [(ln.context, dict(ln.attributes or {})) for ln in mine.links] == [
        (ln.context, dict(ln.attributes or {})) for ln in theirs.links
    ]
    assert mine.instrumentation_scope == theirs.instrumentation_scope
    assert mine.resource == theirs.resource
    assert mine.end_time is not None
    assert mine.start_time is not None
    assert mine.end_time >= mine.start_time
    # what the SDK's console exporter writes: the same document but for ids and times
    mine_doc, theirs_doc = json.loads(mine.to_json()), json.loads(theirs.to_json())
    assert mine_doc.keys() == theirs_doc.keys()
    for key in ("name", "kind", "attributes", "status", "resource"):
        assert mine_doc[key] == theirs_doc[key], key


def test_an_ok_status_is_final_on_a_direct_span() -> None:
    direct, _, exporter = _pair()
    direct.set_status(StatusCode.OK)
    direct.set_status(Status(StatusCode.ERROR, "later"))
    direct.end()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.OK


@pytest.mark.parametrize("live", [False, True])
def test_the_plugin_says_which_spans_it_makes(live: bool) -> None:
    from modelmuxer.telemetry import TracingPlugin

    assert f"live_spans={live}" in repr(TracingPlugin(live_spans=live))


@pytest.mark.parametrize("change", ["renamed_field", "raises"])
async def test_an_sdk_whose_readable_span_does_not_fit_gets_its_own_spans(
    make_muxer: MakeMuxer, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The SDK does not promise ReadableSpan's fields to users: when a direct span would not
    read back through its properties (a field renamed, a property that raises), direct spans
    are not used (checked once, when the tracer is first seen), never a failed request."""
    if change == "renamed_field":
        renamed = property(lambda self: self.__dict__.get("_start_ns"))
        monkeypatch.setattr(ReadableSpan, "start_time", renamed)
    else:

        def broken(self: ReadableSpan, indent: int | None = 4) -> str:
            raise TypeError("unexpected field")

        monkeypatch.setattr(ReadableSpan, "to_json", broken)
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    assert DirectSpans.of(provider.get_tracer("test")) is None
    muxer, probe = _muxer(make_muxer, provider)
    completion = await muxer.acomplete(PROMPT, model=MINI)
    assert completion.text
    assert not isinstance(probe.seen[0], DirectSpan)
    assert {s.name for s in exporter.get_finished_spans()} == {REQUEST_SPAN, f"chat {MINI}"}


def test_a_direct_span_is_the_readable_span_the_processors_receive(
    make_muxer: MakeMuxer,
) -> None:
    """No second object: the ended direct span is what the exporter holds, and it no longer
    changes (set after its end, nothing is kept)."""
    exporter = InMemorySpanExporter()
    tracer = _provider(exporter).get_tracer("test")
    spans = DirectSpans.of(tracer)
    assert spans is not None
    span = spans.start_span("one", attributes={"a": 1})
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert exported is span
    assert isinstance(exported, ReadableSpan)
    span.set_attributes({"b": 2})
    span.add_event("late")
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    assert dict(exported.attributes or {}) == {"a": 1}
    assert exported.events == ()
    assert exported.status.status_code is StatusCode.UNSET
    assert len(exporter.get_finished_spans()) == 1


_STATE = TraceState([("vendor", "v1")])
#: parents: none, and local / remote, sampled / not, with a trace state
_PARENTS: list[SpanContext | None] = [None] + [
    SpanContext(
        0x1234, 0x99, is_remote=remote, trace_flags=TraceFlags(int(sampled)), trace_state=_STATE
    )
    for remote in (False, True)
    for sampled in (False, True)
]
_STOCK: dict[str, Sampler] = {
    "always_on": sampling.ALWAYS_ON,
    "always_off": sampling.ALWAYS_OFF,
    "parent_based_on": sampling.DEFAULT_ON,
    "parent_based_off": sampling.DEFAULT_OFF,
    "parent_based_inverted": sampling.ParentBased(
        sampling.ALWAYS_ON,
        remote_parent_sampled=sampling.ALWAYS_OFF,
        remote_parent_not_sampled=sampling.ALWAYS_ON,
        local_parent_sampled=sampling.ALWAYS_OFF,
        local_parent_not_sampled=sampling.ALWAYS_ON,
    ),
    "parent_based_ratio": sampling.ParentBasedTraceIdRatio(0.5),
}


class Asking(Sampler):
    """Wraps a sampler, counting the spans it is asked about."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.asked = 0

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.asked += 1
        return self.inner.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "Asking"


@pytest.mark.parametrize("name", sorted(_STOCK))
def test_stock_samplers_decide_as_they_would_without_being_asked(name: str) -> None:
    """For the SDK's static samplers (and ParentBased over them) the decision is read from the
    sampler's configuration: the same decision, attributes and trace state its should_sample
    returns, for a root span and every kind of parent; a ratio-based root is still asked."""
    sampler = _STOCK[name]
    exporter = InMemorySpanExporter()
    spans = DirectSpans.of(_provider(exporter, sampler=sampler).get_tracer("test"))
    assert spans is not None
    attributes = {"gen_ai.operation.name": "chat"}
    for parent in _PARENTS:
        context = None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        for trace_id in (0x1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF):  # both sides of a ratio
            if parent is None:
                spans._ids = FixedIds(trace_id)  # type: ignore[assignment]
            expected = sampler.should_sample(
                context, parent.trace_id if parent else trace_id, "s", SpanKind.CLIENT, attributes
            )
            span = spans.start_span("s", context, SpanKind.CLIENT, attributes)
            sampled = expected.decision is Decision.RECORD_AND_SAMPLE
            assert span.is_recording() is expected.decision.is_recording()
            assert span.get_span_context().trace_flags.sampled is sampled
            assert span.get_span_context().trace_state == (expected.trace_state or TraceState())
            if span.is_recording():
                span.end()
                assert dict(exporter.get_finished_spans()[-1].attributes or {}) == dict(
                    expected.attributes
                )
    counting = Asking(sampler)
    spans._sampler = counting  # what the fast path would have asked
    for parent in _PARENTS:
        context = None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        spans.start_span("s", context, SpanKind.CLIENT, attributes)
    assert counting.asked == (1 if name == "parent_based_ratio" else 0)


class FixedIds(IdGenerator):
    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id

    def generate_span_id(self) -> int:
        return 0x42

    def generate_trace_id(self) -> int:
        return self.trace_id


def test_other_samplers_are_always_asked() -> None:
    """A sampler of one's own, or a ParentBased subclass that samples otherwise, decides every
    span."""

    class Mine(sampling.ParentBased):
        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            return sampling.ALWAYS_OFF.should_sample(*args, **kwargs)

    for sampler in (Tagging(), Mine(sampling.ALWAYS_ON), Asking(sampling.ALWAYS_ON)):
        spans = DirectSpans.of(_provider(InMemorySpanExporter(), sampler=sampler).get_tracer("t"))
        assert spans is not None
        assert (spans._root_decision, spans._by_parent) == (None, None)
