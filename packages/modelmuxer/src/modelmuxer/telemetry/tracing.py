"""OpenTelemetry spans: one per request, and one per model attempt inside it.

Span tree (attribute names follow the OpenTelemetry GenAI semantic conventions)::

    <the caller's current span, if any: a LangChain / LlamaIndex / LiteLLM / web span>
      modelmuxer.request                (INTERNAL: strategy, decision, total cost, cache)
        chat offline/openai/gpt-4o-mini  (CLIENT: gen_ai.* of one model call, attempt 0)
        chat offline/openai/gpt-4o       (a cascade's escalation, attempt 1)

The request span's parent is the OpenTelemetry context current when the request's first
span is made (the caller's task, or, for the sync methods, a copy of the calling thread's
context that asyncio carries to the muxer's loop). Each attempt span is the current span while
the model is called, so spans a backend makes (litellm, a LangChain model) nest under it.

The request span is made lazily (at the first attempt, event or the request's end) with the
request's start time, so a muxer pays nothing for it before then; and nothing at all while no
tracer provider is configured. The OpenTelemetry SDK checks every attribute it is given, per
call: a span gets its attributes in as few calls as possible (an attempt span the ones a
sampler may read when it starts, the rest when it ends; a request span all of them when it
ends), and none at all when it is not recording (a sampler dropped it). Prompts and answers go
on spans only with ``capture_content``.

With the OpenTelemetry SDK's tracer and processors that act only on ended spans (its batch and
simple processors: the usual set-up), spans are "direct" (:mod:`modelmuxer.telemetry._direct`):
the same ids, sampling, parents, attributes, events and timing, kept as plain data and handed to
the processors whole when they end, at a fraction of the SDK span's cost. Any other tracer or
processor gets the SDK's own spans (``live_spans=True`` asks for them always).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final

import pluggy
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from modelmuxer import __version__
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import Completion, Request, ToolCall, Usage

if TYPE_CHECKING:
    from modelmuxer.backends.base import ModelCall, ModelResponse, StreamDelta
    from modelmuxer.context import RequestContext
    from modelmuxer.telemetry._direct import DirectSpans

__all__ = ["REQUEST_SPAN", "TracingPlugin", "provider_name"]

_log = logging.getLogger("modelmuxer.telemetry")
#: the name of the request span
REQUEST_SPAN: Final = "modelmuxer.request"
_REQUEST_KEY = "modelmuxer.telemetry.request_span"
_ATTEMPT_KEY = "modelmuxer.telemetry.attempt_span"
_NO_TRACING = (ProxyTracerProvider, NoOpTracerProvider)
_CANCELLED = (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt, SystemExit)
#: a request span, and the context that makes it the parent of the attempt spans
_Made = tuple[Span, otel_context.Context]

#: litellm-style provider prefixes -> the GenAI conventions' well-known ``gen_ai.provider.name``
_PROVIDERS: Final[Mapping[str, str]] = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


def provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` of a card's provider (``mistral`` -> ``mistral_ai``)."""
    return _PROVIDERS.get(provider, provider)


class TracingPlugin:
    """Makes the request and attempt spans; a pluggy plugin. Register it with
    :meth:`register` (``muxer.telemetry.enable_tracing()`` does).

    ``tracer_provider``: where spans go; ``None`` uses the global provider
    (``opentelemetry.trace.set_tracer_provider``), looked up again at most every
    ``provider_check_s`` seconds (the lookup costs microseconds), so one set after the muxer was
    built is used from a request a moment later. ``capture_content`` puts prompts and answers on
    the attempt spans (``gen_ai.input.messages`` / ``gen_ai.output.messages``).

    The attempt spans come from wrappers of the model-call hooks, registered only while a
    tracer provider is configured: a hook wrapper costs a few microseconds per call even when
    it does nothing. ``live_spans``: always use the tracer's own spans, never direct ones (a
    processor that acts on span starts gets them anyway).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool = False,
        provider_check_s: float = 1.0,
        live_spans: bool = False,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.capture_content = capture_content
        self.provider_check_s = provider_check_s
        #: always make spans with ``Tracer.start_span`` (else direct spans where they cannot
        #: differ: see the module's docstring)
        self.live_spans = live_spans
        self._seen: object = None
        self._tracer: Tracer | None = None
        self._direct: DirectSpans | None = None
        self._next_check = 0.0
        self._pm: pluggy.PluginManager | None = None
        self._attempts = _AttemptSpans(self)
        self._wrapping = False
        #: per model: the attempt span's name and start attributes
        self._attempt_starts: dict[str, tuple[str, dict[str, Any]]] = {}

    def register(
        self, pm: pluggy.PluginManager, name: str = "modelmuxer.telemetry.tracing"
    ) -> None:
        """Register on ``pm``, with the attempt-span wrappers while a tracer is available."""
        pm.register(self, name=name)
        self._pm = pm
        self._sync_wrappers(self.tracer() is not None)

    def reconfigure(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool | None = None,
        live_spans: bool | None = None,
    ) -> None:
        """Apply the settings given (``None``: unchanged) from the next span on; the attempt
        wrappers follow whether a tracer is available now."""
        if capture_content is not None:
            self.capture_content = capture_content
        if live_spans is not None:
            self.live_spans = live_spans
        if tracer_provider is not None:
            self.tracer_provider = tracer_provider
        self._seen = None  # look the provider up again, and decide on direct spans again
        self._next_check = 0.0
        self._sync_wrappers(self.tracer() is not None)

    def tracer(self) -> Tracer | None:
        """The tracer spans are made with; ``None`` while no tracer provider is configured."""
        provider = self.tracer_provider
        if provider is None:
            now = time.monotonic()
            if now < self._next_check:
                return self._tracer
            self._next_check = now + self.provider_check_s
            provider = trace.get_tracer_provider()
        if provider is not self._seen:
            tracer = (
                None
                if isinstance(provider, _NO_TRACING)
                else provider.get_tracer("modelmuxer", __version__)
            )
            self._tracer = tracer
            self._direct = None if tracer is None or self.live_spans else _direct_spans(tracer)
            self._seen = provider
        return self._tracer

    def _start_span(
        self,
        tracer: Tracer,
        name: str,
        *,
        kind: SpanKind,
        context: otel_context.Context | None = None,
        attributes: dict[str, Any] | None = None,
        start_time: int | None = None,
    ) -> Span:
        """A span from ``tracer``: a direct one while they cannot differ from its own."""
        direct = self._direct
        if direct is not None and not direct.current():
            self._direct = direct = _direct_spans(tracer)  # a processor was added: look again
        if direct is not None:
            return direct.start_span(name, context, kind, attributes, start_time)
        return tracer.start_span(
            name, context=context, kind=kind, attributes=attributes, start_time=start_time
        )

    def _sync_wrappers(self, wanted: bool) -> None:
        pm = self._pm
        if pm is None or wanted == self._wrapping:
            return
        if wanted:
            pm.register(self._attempts, name="modelmuxer.telemetry.attempt_spans")
        else:
            pm.unregister(self._attempts)
        self._wrapping = wanted

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        """End the request span with the decision, the cost and the outcome."""
        tracer = self.tracer()
        if (tracer is not None) != self._wrapping:
            self._sync_wrappers(tracer is not None)
        made: _Made | None = ctx.state.pop(_REQUEST_KEY, None)
        if made is not None:
            span = made[0]
        elif tracer is None:
            return
        else:  # no attempt made it (a cache hit, a rejection): made now, back-dated
            span = self._start_span(
                tracer, REQUEST_SPAN, kind=SpanKind.INTERNAL, start_time=_start_ns(ctx)
            )
        try:
            if span.is_recording():
                _end_request(span, ctx, completion, error)
        except Exception:  # a hook must not raise
            _log.exception("tracing: cannot finish the span of request %s", ctx.request.request_id)
        finally:
            span.end()

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        """Add the event to the attempt span it happened in, else to the request span."""
        if ctx is None:
            return
        span: Span | None = ctx.state.get(_ATTEMPT_KEY)
        if span is None:
            tracer = self.tracer()
            if tracer is None:
                return
            span = self._request_span(tracer, ctx)[0]
        if span.is_recording():
            span.add_event(f"modelmuxer.{name}", _event_attributes(data))

    # -- spans --------------------------------------------------------------------------------

    def _request_span(self, tracer: Tracer, ctx: RequestContext) -> _Made:
        """The request span and a context holding it, made on first use with the request's
        start time. Its attributes are all set when it ends, in one call."""
        made: _Made | None = ctx.state.get(_REQUEST_KEY)
        if made is None:
            span = self._start_span(
                tracer, REQUEST_SPAN, kind=SpanKind.INTERNAL, start_time=_start_ns(ctx)
            )
            made = ctx.state[_REQUEST_KEY] = (span, trace.set_span_in_context(span))
        return made

    def _start_attempt(self, tracer: Tracer, ctx: RequestContext, call: ModelCall) -> Span:
        """The attempt span, started with the attributes a sampler may look at (the GenAI
        conventions name operation, provider and model for that); the rest are set at its
        end."""
        parent = self._request_span(tracer, ctx)[1]
        card = call.card
        start = self._attempt_starts.get(card.id)
        if start is None:
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider_name(card.provider),
                "gen_ai.request.model": card.id,
            }
            # the SDK copies the attributes it is given: one dict serves every span of the model
            start = self._attempt_starts[card.id] = (f"chat {card.id}", attributes)
        span = self._start_span(
            tracer, start[0], context=parent, kind=SpanKind.CLIENT, attributes=start[1]
        )
        ctx.state[_ATTEMPT_KEY] = span
        return span

    def _call_attributes(self, call: ModelCall) -> dict[str, Any]:
        """What an attempt span says of the call itself (set at its end)."""
        attributes: dict[str, Any] = {"modelmuxer.attempt": call.attempt}
        params = call.request.params
        if params.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = params.max_tokens
        if params.temperature is not None:
            attributes["gen_ai.request.temperature"] = params.temperature
        if params.top_p is not None:
            attributes["gen_ai.request.top_p"] = params.top_p
        if self.capture_content:
            attributes["gen_ai.input.messages"] = _input_messages(call.request)
        return attributes

    async def _traced_call(
        self,
        tracer: Tracer,
        ctx: RequestContext,
        call: ModelCall,
        inner: Awaitable[ModelResponse],
    ) -> ModelResponse:
        span = self._start_attempt(tracer, ctx, call)
        token = otel_context.attach(trace.set_span_in_context(span))
        t0 = time.perf_counter()
        try:
            response = await inner
        except asyncio.CancelledError:
            if span.is_recording():
                attributes = self._call_attributes(call)
                # the pipeline's timeout cancels the call: from in here, only the clock tells
                if time.perf_counter() - t0 >= call.timeout_s:
                    _failed(span, attributes, "ProviderTimeout")
                else:
                    attributes["modelmuxer.cancelled"] = True
                    span.set_attributes(attributes)
            raise
        except BaseException as exc:
            if span.is_recording():
                _failed(span, self._call_attributes(call), exc)
            raise
        else:
            if span.is_recording():
                attributes = self._call_attributes(call)
                text = response.text if self.capture_content else None
                _answered(attributes, call, response.usage, response.finish_reason)
                if text is not None:
                    attributes["gen_ai.output.messages"] = _output_messages(
                        text, response.tool_calls, response.finish_reason
                    )
                span.set_attributes(attributes)
        finally:
            otel_context.detach(token)
            ctx.state.pop(_ATTEMPT_KEY, None)
            span.end()
        return response

    async def _traced_stream(
        self,
        tracer: Tracer,
        ctx: RequestContext,
        call: ModelCall,
        inner: AsyncIterator[StreamDelta],
    ) -> AsyncGenerator[StreamDelta, None]:
        span = self._start_attempt(tracer, ctx, call)
        current = trace.set_span_in_context(span)
        iterator = inner.__aiter__()
        t0 = time.perf_counter()
        ttft: float | None = None
        usage: Usage | None = None
        finish: str | None = None
        texts: list[str] | None = [] if self.capture_content else None
        try:
            while True:
                # attached per step: each step of a sync stream() runs in its own context copy
                token = otel_context.attach(current)
                try:
                    delta = await anext(iterator)
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                if ttft is None and (delta.text or delta.tool_calls):
                    ttft = time.perf_counter() - t0
                if delta.usage is not None:
                    usage = delta.usage
                if delta.finish_reason is not None:
                    finish = delta.finish_reason
                if texts is not None and delta.text:
                    texts.append(delta.text)
                yield delta
        except BaseException as exc:
            if span.is_recording():
                attributes = self._call_attributes(call)
                if ttft is not None:
                    attributes["modelmuxer.ttft_s"] = ttft
                _failed(span, attributes, exc)
            raise
        else:
            if span.is_recording():
                attributes = self._call_attributes(call)
                if ttft is not None:
                    attributes["modelmuxer.ttft_s"] = ttft
                _answered(attributes, call, usage, finish)
                if texts is not None:
                    attributes["gen_ai.output.messages"] = _output_messages(
                        "".join(texts), (), finish
                    )
                span.set_attributes(attributes)
        finally:
            ctx.state.pop(_ATTEMPT_KEY, None)
            span.end()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    def __repr__(self) -> str:
        return (
            f"TracingPlugin(capture_content={self.capture_content}, live_spans={self.live_spans})"
        )


class _AttemptSpans:
    """The model-call wrappers of a :class:`TracingPlugin` (registered while it has a tracer)."""

    def __init__(self, plugin: TracingPlugin) -> None:
        self._plugin = plugin

    @hookimpl(wrapper=True, tryfirst=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        """Wrap the call (and the wrappers inside it: budgets) in an attempt span."""
        inner = yield
        return self.wrap_call(ctx, call, inner)

    def wrap_call(
        self, ctx: RequestContext, call: ModelCall, inner: Awaitable[ModelResponse]
    ) -> Awaitable[ModelResponse]:
        """What the wrapper above returns for ``inner``; the pipeline calls it directly when
        this is the only wrapper (:func:`modelmuxer.plugins.direct_wrapper`)."""
        tracer = self._plugin.tracer()
        if tracer is None:
            return inner
        return self._plugin._traced_call(tracer, ctx, call, inner)

    @hookimpl(wrapper=True, tryfirst=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
        """As for calls; the span ends with the stream, also when the consumer stops early."""
        inner = yield
        tracer = self._plugin.tracer()
        if tracer is None:
            return inner
        return self._plugin._traced_stream(tracer, ctx, call, inner)


def _direct_spans(tracer: Tracer) -> DirectSpans | None:
    """Direct spans for ``tracer`` when it is the SDK's (imported only when it could be)."""
    if "opentelemetry.sdk.trace" not in sys.modules:
        return None  # no SDK loaded: not an SDK tracer
    from modelmuxer.telemetry._direct import DirectSpans

    return DirectSpans.of(tracer)


def _start_ns(ctx: RequestContext) -> int:
    """The request's start in epoch nanoseconds (its span starts late, back-dated to this)."""
    return time.time_ns() - int((time.perf_counter() - ctx.started_perf) * 1e9)


def _answered(
    attributes: dict[str, Any],
    call: ModelCall,
    usage: Usage | None,
    finish: str | None,
) -> None:
    """Add the response attributes of an attempt span to ``attributes``."""
    card = call.card
    attributes["gen_ai.response.model"] = card.id
    if finish is not None:
        attributes["gen_ai.response.finish_reasons"] = (finish,)
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        attributes["modelmuxer.cost_usd"] = card.cost_usd(
            usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
        )


def _failed(span: Span, attributes: dict[str, Any], error: BaseException | str) -> None:
    """Set ``attributes`` and mark the span as failed (a cancellation or a consumer's early
    stop is not an error). ``error``: the exception, or the name of the error to report."""
    if isinstance(error, _CANCELLED):
        attributes["modelmuxer.cancelled"] = True
        span.set_attributes(attributes)
        return
    name = error if isinstance(error, str) else type(error).__name__
    attributes["error.type"] = name
    span.set_attributes(attributes)
    span.set_status(Status(StatusCode.ERROR, name))


def _end_request(
    span: Span, ctx: RequestContext, completion: Completion | None, error: BaseException | None
) -> None:
    """Set every attribute of the request span, in one call."""
    request = ctx.request
    attributes: dict[str, Any] = {
        "modelmuxer.request_id": request.request_id,
        "modelmuxer.strategy": ctx.strategy,
    }
    if ctx.stream:
        attributes["modelmuxer.stream"] = True
    if request.routing.model is not None:
        attributes["gen_ai.request.model"] = request.routing.model
    if ctx.cache != "off":
        attributes["modelmuxer.cache"] = ctx.cache
    if completion is not None and error is None:
        decision = completion.decision
        attempts = completion.attempts
        attributes["gen_ai.response.model"] = completion.model
        attributes["modelmuxer.decision.reason"] = decision.reason
        attributes["modelmuxer.cost_usd"] = completion.cost_usd
        if len(decision.models) > 1:  # a cascade's chain (array attributes cost the most)
            attributes["modelmuxer.decision.models"] = tuple(decision.models)
        if len(attempts) > 1:  # one call is the rule: said only when there were more
            attributes["modelmuxer.attempts"] = len(attempts)
            escalated = sum(1 for a in attempts if a.outcome == "escalated")
            attributes["modelmuxer.escalations"] = escalated
        if completion.saved_usd:
            attributes["modelmuxer.saved_usd"] = completion.saved_usd
    if error is None:
        span.set_attributes(attributes)
    else:
        _failed(span, attributes, error)


def _event_attributes(data: Mapping[str, Any]) -> dict[str, Any]:
    """An event's data as span attributes (nested mappings flattened as ``key.sub``)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                out[f"{key}.{sub}"] = _attribute(inner)
        else:
            out[str(key)] = _attribute(value)
    return out


def _attribute(value: object) -> str | bool | int | float:
    return value if isinstance(value, str | bool | int | float) else str(value)


def _input_messages(request: Request) -> str:
    """The conversation as ``gen_ai.input.messages`` (JSON: role and parts per message)."""
    messages = []
    for message in request.messages:
        parts: list[dict[str, Any]] = []
        if message.role == "tool":
            parts.append(
                {"type": "tool_call_response", "id": message.tool_call_id, "response": message.text}
            )
        elif message.text:
            parts.append({"type": "text", "content": message.text})
        for tool_call in message.tool_calls or ():
            parts.append(_tool_call_part(tool_call))
        messages.append({"role": message.role, "parts": parts})
    return json.dumps(messages, ensure_ascii=False)


def _output_messages(text: str, tool_calls: Any, finish: str | None) -> str:
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
    parts.extend(_tool_call_part(tc) for tc in tool_calls)
    message = {"role": "assistant", "parts": parts, "finish_reason": finish or "stop"}
    return json.dumps([message], ensure_ascii=False)


def _tool_call_part(tool_call: ToolCall) -> dict[str, Any]:
    function = tool_call.function
    return {
        "type": "tool_call",
        "id": tool_call.id,
        "name": function.name,
        "arguments": function.arguments,
    }
