"""Streaming a decision: the strategy decides before the first token; usage is recorded at the end,
also when the consumer stops early.

Before the first byte of the answer reaches the consumer a failure is retried or falls back
like a whole call; after it, nothing is retried (the consumer would get text twice): the
stream raises :class:`~modelmuxer.errors.StreamInterrupted` and the partial usage is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

import pluggy

from modelmuxer._secrets import error_text
from modelmuxer.analysis import analyze
from modelmuxer.analysis.tokens import estimate_tokens
from modelmuxer.backends.base import ModelCall, StreamDelta
from modelmuxer.context import RequestContext
from modelmuxer.errors import (
    BudgetExceeded,
    CircuitOpen,
    ModelMuxerError,
    ProviderError,
    ProviderTimeout,
    StreamInterrupted,
)
from modelmuxer.pipeline.calls import emit_record
from modelmuxer.pipeline.executor import (
    Executor,
    RunState,
    Step,
    completion_of,
    note_rejected_served,
    noted,
)
from modelmuxer.reliability import error_kind
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
    received: bool = False  # any delta came from the backend
    delivered: int = 0  # content chunks handed to the consumer
    characters: int = 0  # text characters handed to the consumer

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
        executor = self._executor
        state = executor.start(decision)
        models = decision.models
        last = len(models) - 1
        best: Step | None = None  # a rejected cascade answer, served if nothing better comes
        failure: ProviderError | None = None
        error: ProviderError | BudgetExceeded | None = None
        for index in range(last):
            if index and state.expired():
                break  # total_timeout_s: no cascade step starts after the deadline
            step = await executor.step(
                ctx, decision, models[index], state, next_model=models[index + 1], first=index == 0
            )
            if step.result is None:
                error = step.error
                failure = step.error if isinstance(step.error, ProviderError) else failure
                continue
            state.spent += step.result.cost_usd
            if step.accepted:
                for chunk in _replay(ctx, decision, step, state):
                    yield chunk
                return
            if best is None or (step.score or 0.0) > (best.score or 0.0):
                best = step
        model, reason, first = models[last], None, last == 0
        # total_timeout_s: the streamed (last) step of a cascade does not start past the deadline
        while first or not state.expired():
            # Closed explicitly so an early stop by the consumer is recorded at once.
            streamed = self._stream_with_retries(ctx, decision, model, state, reason)
            try:
                async with aclosing(streamed) as chunks:
                    async for chunk in chunks:
                        yield chunk
                return
            except StreamInterrupted:
                raise
            except BudgetExceeded as exc:
                if first:
                    raise
                error = exc
            except ProviderError as exc:
                error = failure = exc
            first = False
            if best is not None or failure is None:
                break
            chosen = executor.next_fallback(ctx, decision, state, failure, failure.model)
            if chosen is None:
                break
            model, reason = chosen
        if best is not None:
            note_rejected_served(decision, state, best, error)
            for chunk in _replay(ctx, decision, best, state):
                yield chunk
            return
        assert error is not None
        raise failure or error

    async def _stream_with_retries(
        self,
        ctx: RequestContext,
        decision: Decision,
        model: str,
        state: RunState,
        reason: str | None,
    ) -> AsyncGenerator[StreamChunk, None]:
        """Stream ``model``; a failure before the first byte is retried as the policy says."""
        executor = self._executor
        retries = 0
        current = reason
        while True:
            call = executor.make_call(ctx, model, state, stream=True)
            try:
                async with aclosing(self._stream_call(ctx, decision, call, state, current)) as it:
                    async for chunk in it:
                        yield chunk
                return
            except (StreamInterrupted, CircuitOpen):
                raise
            except ProviderError as exc:
                delay = executor.policy.retry_delay(exc, retries, state.remaining())
                if delay is None:
                    raise
                retries += 1
                executor.announce_retry(ctx, model, retries, delay, exc)
                current = f"{reason or decision.reason} (retry {retries} after {error_kind(exc)})"
                await asyncio.sleep(delay)

    async def _stream_call(
        self,
        ctx: RequestContext,
        decision: Decision,
        call: ModelCall,
        state: RunState,
        reason: str | None,
    ) -> AsyncGenerator[StreamChunk, None]:
        """One streamed call: relay its chunks, record it, and end with the completion chunk.

        A failure before the first chunk is recorded as a failed attempt and raised as it is;
        after it, raised as :class:`StreamInterrupted` carrying the partial usage.
        """
        breakers = self._executor.breakers
        if breakers is not None:
            breakers.acquire(call.card.id, ctx)  # CircuitOpen: nothing called, nothing recorded
        flight = _Flight(ctx, decision, call, reason)
        got = flight.got
        idle_s = self._executor.reliability.stream_idle_timeout_s or call.timeout_s
        wait_s = call.timeout_s
        error: BaseException | None = None
        iterator = self._pm.hook.modelmuxer_stream_model(ctx=ctx, call=call).__aiter__()
        try:
            while True:
                wait_s = idle_s if got.delivered else call.timeout_s
                try:
                    async with asyncio.timeout(wait_s):
                        delta: StreamDelta = await anext(iterator)
                except StopAsyncIteration:
                    break
                got.add(delta)
                if delta.text or delta.tool_calls:
                    if got.ttft_s is None:
                        got.ttft_s = time.perf_counter() - flight.t_call
                    got.delivered += 1
                    got.characters += len(delta.text)
                    yield StreamChunk(
                        text=delta.text, tool_calls=list(delta.tool_calls), model=call.card.id
                    )
        except TimeoutError:
            error = ProviderTimeout(model=call.card.id, timeout_s=wait_s)
        except ModelMuxerError as exc:  # typed errors keep their type, as in call_model
            error = exc
        except (GeneratorExit, asyncio.CancelledError) as exc:
            await self._stopped(flight, exc, iterator)
            raise
        except Exception as exc:
            # scrubbed, and not chained: a third-party exception's text may hold a key
            error = ProviderError(error_text(exc), model=call.card.id)
        if error is not None:
            # raised here, outside the except clauses: a backend's original exception (whose
            # text may hold a key) is not chained to it
            raise await self._failed(flight, state, error, iterator)
        yield self._finished(flight, state)

    async def _stopped(
        self, flight: _Flight, stop: BaseException, iterator: AsyncIterator[StreamDelta]
    ) -> None:
        """The consumer stopped the stream: record the tokens so far (they were used)."""
        usage = flight.got.usage_or_estimate(flight.ctx)
        self._record(flight, usage, "cancelled", stop)
        await _aclose(iterator)
        breakers = self._executor.breakers
        if breakers is not None:
            model = flight.call.card.id
            if flight.got.delivered:  # it was answering: healthy
                breakers.succeeded(model, flight.ctx)
            else:
                breakers.abandoned(model)

    def _finished(self, flight: _Flight, state: RunState) -> StreamChunk:
        """Record a stream that ended well; the chunk carrying the completion."""
        ctx, call, got = flight.ctx, flight.call, flight.got
        model = call.card.id
        usage = got.usage_or_estimate(ctx)
        latency = self._record(flight, usage, "ok")
        if self._executor.breakers is not None:
            self._executor.breakers.succeeded(model, ctx)
        cost = _cost(call, usage)
        state.spent += cost
        state.attempts.append(
            Attempt(model=model, outcome="accepted", usage=usage, cost_usd=cost, latency_s=latency)
        )
        completion = Completion(
            request_id=ctx.request.request_id,
            text="".join(got.text),
            tool_calls=got.tool_calls(),
            finish_reason=got.finish or "stop",
            usage=usage,
            cost_usd=state.spent,
            model=model,
            provider=call.card.provider,
            decision=noted(flight.decision, state),
            attempts=state.attempts,
            latency_s=time.perf_counter() - state.t0,
        )
        return StreamChunk(model=model, completion=completion)

    async def _failed(
        self,
        flight: _Flight,
        state: RunState,
        error: BaseException,
        iterator: AsyncIterator[StreamDelta],
    ) -> BaseException:
        """Record a failed stream; the error to raise (:class:`StreamInterrupted` once the
        consumer has received part of the answer)."""
        ctx, call, got = flight.ctx, flight.call, flight.got
        model = call.card.id
        await _aclose(iterator)
        breakers = self._executor.breakers
        if breakers is not None:
            if isinstance(error, ProviderError):
                breakers.failed(model, error_kind(error), ctx)
            else:
                breakers.abandoned(model)
        # A stream that failed before anything arrived (refused by a budget, connection
        # refused) used nothing; one that broke later used its prompt and what it sent.
        usage = got.usage_or_estimate(ctx) if got.received else Usage()
        cost = _cost(call, usage)
        if got.delivered and isinstance(error, ProviderError):
            cause = error
            error = StreamInterrupted(
                model=model,
                chunks=got.delivered,
                characters=got.characters,
                usage=usage,
                cost_usd=cost,
                cause=cause,
            )
            error.__cause__ = cause
        self._record(flight, usage, "error", error)
        if not got.delivered:
            state.spent += cost
            state.attempts.append(
                Attempt(model=model, outcome="failed", usage=usage, cost_usd=cost, error=str(error))
            )
        return error

    def _record(
        self,
        flight: _Flight,
        usage: Usage,
        outcome: CallOutcome,
        error: BaseException | None = None,
    ) -> float:
        """Broadcast the call's record; its latency."""
        latency = time.perf_counter() - flight.t_call
        emit_record(
            self._pm,
            flight.ctx,
            flight.decision,
            flight.call,
            started_at=flight.started_at,
            usage=usage,
            latency_s=latency,
            outcome=outcome,
            error=error,
            ttft_s=flight.got.ttft_s,
            reason=flight.reason,
        )
        return latency


@dataclass(slots=True)
class _Flight:
    """One streamed call in progress: what it is, when it started, what it has produced."""

    ctx: RequestContext
    decision: Decision
    call: ModelCall
    reason: str | None
    started_at: float = field(default_factory=time.time)  # wall clock, for the record
    t_call: float = field(default_factory=time.perf_counter)
    got: _Assembly = field(default_factory=_Assembly)


def _replay(
    ctx: RequestContext, decision: Decision, step: Step, state: RunState
) -> list[StreamChunk]:
    """A whole (cascade) answer as a stream: one content chunk, then the completion."""
    assert step.result is not None
    response = step.result.response
    deltas = [
        ToolCallDelta(index=i, id=tc.id, name=tc.function.name, arguments=tc.function.arguments)
        for i, tc in enumerate(response.tool_calls)
    ]
    completion = completion_of(ctx, decision, step, state)
    return [
        StreamChunk(text=response.text, tool_calls=deltas, model=step.model),
        StreamChunk(model=step.model, completion=completion),
    ]


def _cost(call: ModelCall, usage: Usage) -> float:
    return call.card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


async def _aclose(iterator: AsyncIterator[StreamDelta]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
