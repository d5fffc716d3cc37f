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
tracer provider is configured. Prompts and answers go on spans only with ``capture_content``.
"""

from __future__ import annotations

import asyncio
import json
import logging
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

__all__ = ["REQUEST_SPAN", "TracingPlugin", "provider_name"]

_log = logging.getLogger("modelmuxer.telemetry")
#: the name of the request span
REQUEST_SPAN: Final = "modelmuxer.request"
_REQUEST_KEY = "modelmuxer.telemetry.request_span"
_ATTEMPT_KEY = "modelmuxer.telemetry.attempt_span"
_STRATEGY_KEY = "modelmuxer.telemetry.span_strategy"
_NO_TRACING = (ProxyTracerProvider, NoOpTracerProvider)
_CANCELLED = (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt, SystemExit)

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
    it does nothing.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool = False,
        provider_check_s: float = 1.0,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.capture_content = capture_content
        self.provider_check_s = provider_check_s
        self._seen: object = None
        self._tracer: Tracer | None = None
        self._next_check = 0.0
        self._pm: pluggy.PluginManager | None = None
        self._attempts = _AttemptSpans(self)
        self._wrapping = False

    def register(
        self, pm: pluggy.PluginManager, name: str = "modelmuxer.telemetry.tracing"
    ) -> None:
        """Register on ``pm``, with the attempt-span wrappers while a tracer is available."""
        pm.register(self, name=name)
        self._pm = pm
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
            self._tracer = (
                None
                if isinstance(provider, _NO_TRACING)
                else provider.get_tracer("modelmuxer", __version__)
            )
            self._seen = provider
        return self._tracer

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
        span: Span | None = ctx.state.pop(_REQUEST_KEY, None)
        if span is None:
            if tracer is None:
                return
            span = self._start_request(tracer, ctx)
            ctx.state.pop(_REQUEST_KEY, None)
        try:
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
            span = self._start_request(tracer, ctx)
        span.add_event(f"modelmuxer.{name}", _event_attributes(data))

    # -- spans --------------------------------------------------------------------------------

    def _start_request(self, tracer: Tracer, ctx: RequestContext) -> Span:
        """The request span, made on first use with the request's start time."""
        span: Span | None = ctx.state.get(_REQUEST_KEY)
        if span is None:
            elapsed_ns = int((time.perf_counter() - ctx.started_perf) * 1e9)
            request = ctx.request
            attributes: dict[str, Any] = {
                "modelmuxer.request_id": request.request_id,
                "modelmuxer.strategy": ctx.strategy,
            }
            if ctx.stream:
                attributes["modelmuxer.stream"] = True
            if request.routing.model is not None:
                attributes["gen_ai.request.model"] = request.routing.model
            span = tracer.start_span(
                REQUEST_SPAN,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=time.time_ns() - elapsed_ns,
            )
            ctx.state[_REQUEST_KEY] = span
            ctx.state[_STRATEGY_KEY] = ctx.strategy
        return span

    def _start_attempt(self, tracer: Tracer, ctx: RequestContext, call: ModelCall) -> Span:
        parent = trace.set_span_in_context(self._start_request(tracer, ctx))
        card = call.card
        provider = provider_name(card.provider)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": card.id,
            "modelmuxer.attempt": call.attempt,
        }
        params = call.request.params
        if params.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = params.max_tokens
        if params.temperature is not None:
            attributes["gen_ai.request.temperature"] = params.temperature
        if params.top_p is not None:
            attributes["gen_ai.request.top_p"] = params.top_p
        if self.capture_content:
            attributes["gen_ai.input.messages"] = _input_messages(call.request)
        span = tracer.start_span(
            f"chat {card.id}", context=parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        ctx.state[_ATTEMPT_KEY] = span
        return span

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
            # the pipeline's timeout cancels the call: from in here, that is only told by the clock
            if time.perf_counter() - t0 >= call.timeout_s:
                span.set_attribute("error.type", "ProviderTimeout")
                span.set_status(Status(StatusCode.ERROR, "ProviderTimeout"))
            else:
                span.set_attribute("modelmuxer.cancelled", True)
            raise
        except BaseException as exc:
            _failed(span, exc)
            raise
        else:
            usage = response.usage
            text = response.text if self.capture_content else None
            _answered(span, call, usage, response.finish_reason, text, response.tool_calls)
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
        usage: Usage | None = None
        finish: str | None = None
        texts: list[str] | None = [] if self.capture_content else None
        first = True
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
                if first and (delta.text or delta.tool_calls):
                    first = False
                    span.set_attribute("modelmuxer.ttft_s", time.perf_counter() - t0)
                if delta.usage is not None:
                    usage = delta.usage
                if delta.finish_reason is not None:
                    finish = delta.finish_reason
                if texts is not None and delta.text:
                    texts.append(delta.text)
                yield delta
        except BaseException as exc:
            _failed(span, exc)
            raise
        else:
            text = None if texts is None else "".join(texts)
            _answered(span, call, usage, finish, text, ())
        finally:
            ctx.state.pop(_ATTEMPT_KEY, None)
            span.end()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    def __repr__(self) -> str:
        return f"TracingPlugin(capture_content={self.capture_content})"


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


def _answered(
    span: Span,
    call: ModelCall,
    usage: Usage | None,
    finish: str | None,
    text: str | None,
    tool_calls: Any,
) -> None:
    """Set the response attributes of an attempt span (in one call: each takes the span's lock)."""
    card = call.card
    attributes: dict[str, Any] = {"gen_ai.response.model": card.id}
    if finish is not None:
        attributes["gen_ai.response.finish_reasons"] = (finish,)
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        attributes["modelmuxer.cost_usd"] = card.cost_usd(
            usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
        )
    if text is not None:
        attributes["gen_ai.output.messages"] = _output_messages(text, tool_calls, finish)
    span.set_attributes(attributes)


def _failed(span: Span, error: BaseException) -> None:
    """Mark a span as failed (a cancellation or a consumer's early stop is not an error)."""
    name = type(error).__name__
    if isinstance(error, _CANCELLED):
        span.set_attribute("modelmuxer.cancelled", True)
        return
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR, name))


def _end_request(
    span: Span, ctx: RequestContext, completion: Completion | None, error: BaseException | None
) -> None:
    attributes: dict[str, Any] = {}
    if ctx.state.get(_STRATEGY_KEY) != ctx.strategy:  # rewritten after the span was made
        attributes["modelmuxer.strategy"] = ctx.strategy
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
    span.set_attributes(attributes)
    if error is not None:
        _failed(span, error)


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
