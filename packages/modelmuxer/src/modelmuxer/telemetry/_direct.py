"""Spans for the OpenTelemetry SDK's tracer, built whole when they end ("direct" spans).

The SDK's own span (``Tracer.start_span``) validates every attribute on every call, takes a
lock per change, keeps bounded collections and calls each processor's ``on_start``: about
25 µs per span on a typical machine, several times what the rest of ModelMuxer's telemetry
costs per request. Most deployments configure only the SDK's ``BatchSpanProcessor`` or
``SimpleSpanProcessor``, which do nothing until a span ends. For those, :class:`DirectSpans`
makes the same decisions the SDK makes when a span starts (parent, ids from the provider's id
generator, the provider's sampler, trace flags and state), and a :class:`DirectSpan` keeps what
is said of the span in plain Python objects until it ends, when it is handed to the processors'
``on_end`` as the ``ReadableSpan`` it is: what they would have received from the SDK's span.
For the SDK's stock samplers (``ParentBased`` over ``ALWAYS_ON`` / ``ALWAYS_OFF``, the default,
and those two alone) the decision they would return is read from their configuration instead
of asking them (with a ratio-based root, a root span still asks it).

Used only when nothing would tell the difference (:meth:`DirectSpans.of`): an SDK tracer that
is enabled, whose span limits do not bind ModelMuxer's spans, whose every processor ignores
span starts, and whose ``ReadableSpan`` reads back what a direct span stores in it (the SDK
does not promise its fields to users: checked once per tracer). Anything else (a processor
with its own ``on_start``, a vendor's tracer, tight span limits) gets the SDK's spans
(``TracingPlugin(live_spans=True)`` asks for them always).
Not counted here: the SDK's own self-observability metrics of started and live spans.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    Event,
    ReadableSpan,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
)
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, StaticSampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types

__all__ = ["DirectSpan", "DirectSpans"]

#: ``on_start`` / ``_on_ending`` implementations that do nothing (the SDK's base and exporters)
_PASSIVE_STARTS: Final = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)
_PASSIVE_ENDINGS: Final = frozenset(
    getattr(kind, "_on_ending", None)
    for kind in (SpanProcessor, BatchSpanProcessor, SimpleSpanProcessor)
)
#: span limits at or above which ModelMuxer's spans are never cut (they carry ~15 attributes,
#: a few events of a few attributes, no links)
_ENOUGH: Final = {
    "max_span_attributes": 64,
    "max_events": 32,
    "max_event_attributes": 32,
    "max_links": 8,
    "max_link_attributes": 32,
}
_SCALARS: Final = (str, bool, int, float)
_RANDOM: Final = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))  # W3C level 2 (API 1.39+)
#: the trace flags of a span, by (sampled, random trace id)
_FLAGS: Final = {
    (sampled, random_id): TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT) | (_RANDOM if random_id else 0)
    )
    for sampled in (False, True)
    for random_id in (False, True)
}
_UNSET: Final = Status(StatusCode.UNSET)
#: ``ParentBased``'s delegates, in the order :meth:`DirectSpans.start_span` indexes them
#: (``2 * parent.is_remote + parent.trace_flags.sampled``)
_DELEGATES: Final = (
    "_local_parent_not_sampled",
    "_local_parent_sampled",
    "_remote_parent_not_sampled",
    "_remote_parent_sampled",
)
_PROBE: Final = SpanContext(1, 1, is_remote=False)


def _processors(tracer: SdkTracer) -> tuple[object, ...] | None:
    """The tracer's span processors (``None``: a processor this module cannot look into)."""
    processor: object = tracer.span_processor
    if isinstance(processor, SynchronousMultiSpanProcessor | ConcurrentMultiSpanProcessor):
        listed = getattr(processor, "_span_processors", None)
        return listed if isinstance(listed, tuple) else None
    return (processor,)


def _passive(processors: Sequence[object]) -> bool:
    """Whether every processor acts only on ended spans."""
    return all(
        getattr(type(p), "on_start", None) in _PASSIVE_STARTS
        and getattr(type(p), "_on_ending", None) in _PASSIVE_ENDINGS
        for p in processors
    )


def _roomy(tracer: SdkTracer) -> bool:
    """Whether the tracer's span limits leave ModelMuxer's spans whole."""
    limits = getattr(tracer, "_span_limits", None)
    if limits is None or getattr(limits, "max_span_attribute_length", None) is not None:
        return False
    if getattr(limits, "max_attribute_length", None) is not None:
        return False
    for name, enough in _ENOUGH.items():
        value = getattr(limits, name, None)
        if value is not None and value < enough:
            return False
    return True


def _enabled(tracer: SdkTracer) -> bool:
    is_enabled = getattr(tracer, "_is_enabled", None)  # tracer configs (SDK 1.35+)
    return bool(is_enabled()) if callable(is_enabled) else True


def _static(sampler: object) -> Decision | None:
    """The decision of the SDK's ``StaticSampler`` (``ALWAYS_ON`` / ``ALWAYS_OFF``); ``None``
    for any other sampler."""
    if type(sampler) is not StaticSampler:
        return None
    decision = getattr(sampler, "_decision", None)
    return decision if isinstance(decision, Decision) else None


def _fixed_decisions(
    sampler: object,
) -> tuple[Decision | None, tuple[Decision, ...] | None]:
    """What a stock sampler decides without looking at the span: for a root span, and for a
    span with a parent by ``2 * is_remote + sampled`` of the parent (``None``: ask it). Exact
    because ``StaticSampler.should_sample`` returns its decision, the span's attributes unless
    it drops the span, and the parent's trace state; and ``ParentBased`` (not a subclass that
    samples otherwise) hands a span with a valid parent to one of its four delegates."""
    static = _static(sampler)
    if static is not None:
        return static, (static,) * 4
    if (
        isinstance(sampler, ParentBased)
        and type(sampler).should_sample is ParentBased.should_sample
    ):
        delegates = [_static(getattr(sampler, name, None)) for name in _DELEGATES]
        by_parent = tuple(d for d in delegates if d is not None)
        root = _static(getattr(sampler, "_root", None))
        return root, by_parent if len(by_parent) == len(_DELEGATES) else None
    return None, None


def _cleaned(attributes: types.Attributes) -> dict[str, types.AttributeValue]:
    """``attributes`` as the SDK keeps them: plain values and tuples of strings as they are
    (all ModelMuxer sets), anything else through the SDK's own cleaning (``BoundedAttributes``:
    lists become tuples, invalid values are dropped with its warning)."""
    if not attributes:
        return {}
    out: dict[str, types.AttributeValue] = {}
    odd: dict[str, types.AttributeValue] | None = None
    for key, value in attributes.items():
        kind = type(value)
        if kind in _SCALARS or (kind is tuple and all(type(item) is str for item in value)):  # type: ignore[union-attr]
            out[key] = value
        else:
            if odd is None:
                odd = {}
            odd[key] = value
    if odd is not None:
        out.update(BoundedAttributes(None, odd, immutable=False))
    return out


class DirectSpans:
    """Starts :class:`DirectSpan` s for an SDK tracer; build it with :meth:`of`."""

    def __init__(self, tracer: SdkTracer, processors: tuple[object, ...]) -> None:
        self._tracer = tracer
        self._sampler = tracer.sampler
        self._root_decision, self._by_parent = _fixed_decisions(self._sampler)
        self._ids = tracer.id_generator
        self._random_ids = bool(getattr(self._ids, "is_trace_id_random", lambda: False)())
        self.processor: SpanProcessor = tracer.span_processor
        self.resource = tracer.resource
        self.scope: InstrumentationScope | None = getattr(tracer, "_instrumentation_scope", None)
        self.info = getattr(tracer, "instrumentation_info", None)
        self._checked = processors

    @classmethod
    def of(cls, tracer: object) -> DirectSpans | None:
        """Direct spans for ``tracer``, or ``None`` when they could differ from the SDK's own
        (not the SDK's tracer, disabled, tight span limits, a processor acting on span starts)."""
        if not isinstance(tracer, SdkTracer) or not _enabled(tracer) or not _roomy(tracer):
            return None
        processors = _processors(tracer)
        if processors is None or not _passive(processors):
            return None
        maker = cls(tracer, processors)
        try:  # the SDK documents ReadableSpan as not for users to build: check it reads back
            fits = _reads_back(maker)
        except Exception:  # an SDK this module does not know: its own spans, then
            fits = False
        return maker if fits else None

    def current(self) -> bool:
        """Whether the tracer is as :meth:`of` found it (no processor added since, still
        enabled): checked before each span, for a few hundred nanoseconds."""
        tracer = self._tracer
        return _processors(tracer) is self._checked and _enabled(tracer)

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        start_time: int | None = None,
    ) -> trace.Span:
        """What ``Tracer.start_span`` decides, without the SDK's span: a :class:`DirectSpan`
        when the sampler records it, else a ``NonRecordingSpan`` with its ids."""
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = self._ids.generate_trace_id()
            random_id = self._random_ids
            decision = self._root_decision
        else:
            trace_id = parent.trace_id
            random_id = bool(parent.trace_flags & _RANDOM)
            by_parent = self._by_parent
            decision = (
                None
                if by_parent is None
                else by_parent[2 * parent.is_remote + parent.trace_flags.sampled]
            )
        kept: types.Attributes
        if decision is None:
            sampled = self._sampler.should_sample(context, trace_id, name, kind, attributes, ())
            decision, kept, state = sampled.decision, sampled.attributes, sampled.trace_state
        else:  # a stock sampler: what it would return (see _fixed_decisions)
            kept = None if decision is Decision.DROP else attributes
            state = None if parent is None else parent.trace_state
        flags = _FLAGS[decision is Decision.RECORD_AND_SAMPLE, random_id]
        span_context = SpanContext(
            trace_id,
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=state,
        )
        if decision is Decision.DROP:
            return NonRecordingSpan(span_context)
        return DirectSpan(
            self,
            name,
            span_context,
            parent,
            kind,
            _cleaned(kept),
            start_time if start_time is not None else time_ns(),
        )


class DirectSpan(trace.Span, ReadableSpan):
    """A recording span kept as plain data; when it ends, it is the ``ReadableSpan`` the
    processors receive (as the SDK's own span is: ``Span(trace.Span, ReadableSpan)``)."""

    def __init__(
        self,
        maker: DirectSpans,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, types.AttributeValue],
        start: int,
    ) -> None:
        # What ReadableSpan's constructor sets, set here (its properties read these fields;
        # DirectSpans.of checks that they do).
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes: dict[str, types.AttributeValue] = attributes
        self._events: list[Event] = []
        self._links: list[Link] = []
        self._status = _UNSET
        self._start_time = start
        self._end_time: int | None = None
        self._resource = maker.resource
        self._instrumentation_scope = maker.scope
        self._instrumentation_info = maker.info
        self._maker = maker
        self._ended = False

    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]  # never None here

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if self._ended:
            return
        self._attributes.update(_cleaned(attributes))

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        self.set_attributes({key: value})

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if not self._ended:
            self._events.append(
                Event(name, _cleaned(attributes), timestamp if timestamp is not None else time_ns())
            )

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not self._ended and context.is_valid:
            self._links.append(Link(context, _cleaned(attributes)))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK's: an ``OK`` status is final, ``UNSET`` is ignored."""
        if self._ended or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """An ``exception`` event with the attributes the SDK's span gives it."""
        kind = type(exception)
        module = kind.__module__
        said: dict[str, types.AttributeValue] = {
            "exception.type": (
                f"{module}.{kind.__qualname__}"
                if module and module != "builtins"
                else kind.__qualname__
            ),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        said.update(attributes or {})
        self.add_event("exception", said, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        self._ended = True
        self._maker.processor.on_end(self)

    def __repr__(self) -> str:
        return f'DirectSpan(name="{self._name}", context={self._context})'


def _reads_back(maker: DirectSpans) -> bool:
    """Whether a direct span reads back through ``ReadableSpan``'s public properties (what
    processors and exporters read) what it was given: the SDK does not promise its fields."""
    span = DirectSpan(maker, "probe", _PROBE, None, SpanKind.CLIENT, {"probe": "yes"}, 1)
    span.add_event("event", {"n": 1}, 2)
    span.set_status(Status(StatusCode.ERROR, "probe"))
    span._end_time = 3  # ended without reaching the processors
    span._ended = True
    return bool(
        span.name == "probe"
        and span.context is _PROBE
        and span.get_span_context() is _PROBE
        and span.parent is None
        and span.kind is SpanKind.CLIENT
        and dict(span.attributes or {}) == {"probe": "yes"}
        and [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events]
        == [("event", {"n": 1}, 2)]
        and tuple(span.links) == ()
        and span.status.status_code is StatusCode.ERROR
        and (span.start_time, span.end_time) == (1, 3)
        and span.resource is maker.resource
        and span.instrumentation_scope is maker.scope
        and (span.dropped_attributes, span.dropped_events, span.dropped_links) == (0, 0, 0)
        and json.loads(span.to_json())["name"] == "probe"
    )
