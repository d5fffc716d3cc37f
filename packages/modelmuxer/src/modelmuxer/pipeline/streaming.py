"""Streaming a decision: the strategy decides before the first token; usage is recorded at the end,
also when the consumer stops early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

import pluggy

from modelmuxer.analysis import analyze
from modelmuxer.analysis.tokens import estimate_tokens
from modelmuxer.backends.base import ModelCall, StreamDelta
from modelmuxer.context import RequestContext
from modelmuxer.errors import ModelMuxerError, ProviderError, ProviderTimeout
from modelmuxer.pipeline.calls import emit_record
from modelmuxer.pipeline.executor import Executor, completion_of
from modelmuxer.types import (
    Attempt,
    CallOutcome,
    Completion,
    Decision,
    FinishReason,
    FunctionCall,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["StreamRunner"]


@dataclass(slots=True)
class _Assembly:
    """What has been streamed so far."""

    text: list[str] = field(default_factory=list)
    tools: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, arguments]
    usage: Usage | None = None
    finish: FinishReason | None = None
    ttft_s: float | None = None
    received: bool = False

    def add(self, delta: StreamDelta) -> None:
        self.received = True
        if delta.text:
            self.text.append(delta.text)
        for part in delta.tool_calls:
            slot = self.tools.setdefault(part.index, ["", "", ""])
            slot[0] = part.id or slot[0]
            slot[1] = part.name or slot[1]
            slot[2] += part.arguments
        if delta.usage is not None:
            self.usage = delta.usage
        if delta.finish_reason is not None:
            self.finish = delta.finish_reason

    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(
                id=slot[0] or f"call_{i}",
                function=FunctionCall(name=slot[1], arguments=slot[2] or "{}"),
            )
            for i, slot in sorted(self.tools.items())
        ]

    def usage_or_estimate(self, ctx: RequestContext) -> Usage:
        """The provider's usage or, when a stream ended before reporting it, an estimate."""
        if self.usage is not None:
            return self.usage
        features = ctx.features or analyze(ctx.request)
        produced = "".join(self.text) + "".join(s[2] for s in self.tools.values())
        return Usage(
            prompt_tokens=features.prompt_tokens, completion_tokens=estimate_tokens(produced)
        )


class StreamRunner:
    """Streams the answer; a cascade judges earlier steps whole and streams only the last model."""

    def __init__(self, pm: pluggy.PluginManager, executor: Executor) -> None:
        self._pm = pm
        self._executor = executor

    async def run(
        self, ctx: RequestContext, decision: Decision
    ) -> AsyncGenerator[StreamChunk, None]:
        t0 = time.perf_counter()
        attempts: list[Attempt] = []
        spent = 0.0
        last = len(decision.models) - 1
        for index in range(last):
            step = await self._executor.step(ctx, decision, index, spent, attempts)
            if step.result is None:
                continue
            spent += step.result.cost_usd
            if step.accepted:
                response = step.result.response
                deltas = [
                    ToolCallDelta(
                        index=i, id=tc.id, name=tc.function.name, arguments=tc.function.arguments
                    )
                    for i, tc in enumerate(response.tool_calls)
                ]
                model = step.call.card.id
                yield StreamChunk(text=response.text, tool_calls=deltas, model=model)
                completion = completion_of(ctx, decision, step, attempts, spent, t0)
                yield StreamChunk(model=model, completion=completion)
                return
        call = self._executor.make_call(ctx, decision.models[last], last, stream=True)
        # Closed explicitly so an early stop by the consumer is recorded at once.
        streamed = self._stream_call(ctx, decision, call, attempts, spent, t0)
        async with aclosing(streamed) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _stream_call(
        self,
        ctx: RequestContext,
        decision: Decision,
        call: ModelCall,
        attempts: list[Attempt],
        spent: float,
        t0: float,
    ) -> AsyncGenerator[StreamChunk, None]:
        started_at = time.time()
        t_call = time.perf_counter()
        got = _Assembly()
        outcome: CallOutcome = "cancelled"
        error: BaseException | None = None
        model = call.card.id
        iterator = self._pm.hook.modelmuxer_stream_model(ctx=ctx, call=call).__aiter__()
        try:
            while True:
                try:
                    async with asyncio.timeout(call.timeout_s):
                        delta: StreamDelta = await anext(iterator)
                except StopAsyncIteration:
                    break
                got.add(delta)
                if delta.text or delta.tool_calls:
                    if got.ttft_s is None:
                        got.ttft_s = time.perf_counter() - t_call
                    yield StreamChunk(
                        text=delta.text, tool_calls=list(delta.tool_calls), model=model
                    )
            outcome = "ok"
        except TimeoutError:
            outcome, error = "error", ProviderTimeout(model=model, timeout_s=call.timeout_s)
            raise error from None
        except ModelMuxerError as exc:  # typed errors keep their type, as in call_model
            outcome, error = "error", exc
            raise
        except (GeneratorExit, asyncio.CancelledError) as exc:
            error = exc
            raise
        except Exception as exc:
            outcome, error = "error", ProviderError(f"{type(exc).__name__}: {exc}", model=model)
            raise error from exc
        finally:
            # A stream that failed before anything arrived (refused by a budget, connection
            # refused) used nothing; one that was stopped or broke later used its prompt.
            nothing = isinstance(error, Exception) and not got.received  # cancels aren't
            usage = Usage() if nothing else got.usage_or_estimate(ctx)
            latency = time.perf_counter() - t_call
            emit_record(
                self._pm,
                ctx,
                decision,
                call,
                started_at=started_at,
                usage=usage,
                latency_s=latency,
                outcome=outcome,
                error=None if outcome == "ok" else error,
                ttft_s=got.ttft_s,
            )
            aclose = getattr(iterator, "aclose", None)
            if outcome != "ok" and aclose is not None:
                await aclose()
        cost = call.card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        attempts.append(
            Attempt(model=model, outcome="accepted", usage=usage, cost_usd=cost, latency_s=latency)
        )
        yield StreamChunk(
            model=model,
            completion=Completion(
                request_id=ctx.request.request_id,
                text="".join(got.text),
                tool_calls=got.tool_calls(),
                finish_reason=got.finish or "stop",
                usage=usage,
                cost_usd=spent + cost,
                model=model,
                provider=call.card.provider,
                decision=decision,
                attempts=attempts,
                latency_s=time.perf_counter() - t0,
            ),
        )
