"""Executing a decision: one call, or a cascade that escalates until the judge accepts; failed
calls are retried or fall back to the next-best model (see :mod:`modelmuxer.reliability`).

This is ModelMuxer's one retry loop: backends call each model once (the litellm backend turns
litellm's and the SDK's own retries off).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pluggy

from modelmuxer.analysis import analyze
from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.catalog import Catalog
from modelmuxer.context import RequestContext
from modelmuxer.errors import BudgetExceeded, CircuitOpen, PluginError, ProviderError
from modelmuxer.events import emit
from modelmuxer.pipeline.calls import CallResult, call_model, emit_record
from modelmuxer.plugins import BackendRegistry
from modelmuxer.reliability import (
    BreakerRegistry,
    ReliabilitySettings,
    RetryPolicy,
    error_kind,
    fallback_order,
)
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import Attempt, CallOutcome, Completion, Decision

__all__ = ["Executor", "RunState", "Step", "completion_of", "note_rejected_served", "noted"]


@dataclass(slots=True)
class RunState:
    """One request's attempts so far: every call made, what they cost, where fallback went.

    ``attempts`` has one entry per model call, so its length numbers the next call
    (``CallRecord.attempt``). ``notes`` join the decision's reason on the completion.
    """

    t0: float
    deadline: float | None = None  # perf_counter() time after which no new attempt starts
    attempts: list[Attempt] = field(default_factory=list)
    spent: float = 0.0
    tried: set[str] = field(default_factory=set)
    fallbacks: int = 0
    notes: list[str] = field(default_factory=list)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None``: no deadline)."""
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def expired(self) -> bool:
        """Whether the deadline has passed: no new attempt (cascade step, fallback) starts."""
        return self.deadline is not None and time.perf_counter() >= self.deadline


class Executor:
    """Calls the models a decision names, judges cascade answers, records every call, and
    retries or falls back on failures as :class:`ReliabilitySettings` say."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        catalog: Catalog,
        backends: BackendRegistry,
        timeout_s: float,
        reliability: ReliabilitySettings | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self._pm = pm
        self._catalog = catalog
        self._timeout_s = timeout_s
        self.reliability = reliability or ReliabilitySettings()
        self.policy = RetryPolicy(self.reliability)
        self.breakers = breakers
        # the catalog is fixed for the muxer's life: resolve each card's backend once
        self._backend_of = {card.id: backends.for_card(card) for card in catalog}

    def start(self, decision: Decision) -> RunState:
        """The state of a new run of ``decision``."""
        t0 = time.perf_counter()
        total = self.reliability.total_timeout_s
        return RunState(
            t0=t0, deadline=None if total is None else t0 + total, tried=set(decision.models)
        )

    def make_call(
        self, ctx: RequestContext, model: str, state: RunState, stream: bool
    ) -> ModelCall:
        """The next call of the run: numbered after the calls made, its timeout cut to the
        deadline."""
        timeout = ctx.request.params.timeout_s or self._timeout_s
        left = state.remaining()
        if left is not None:
            timeout = max(min(timeout, left), 0.001)
        return ModelCall(
            card=self._catalog.get(model),
            request=ctx.request,
            backend=self._backend_of[model],
            timeout_s=timeout,
            attempt=len(state.attempts),
            stream=stream,
        )

    def judge(self, ctx: RequestContext, call: ModelCall, response: ModelResponse) -> float:
        """The judge's score for a cascade answer, in [0, 1]."""
        score = self._pm.hook.modelmuxer_judge(ctx=ctx, call=call, response=response)
        if not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise PluginError(f"modelmuxer_judge returned {score!r}; a score in [0, 1] is required")
        return float(score)

    def judged(
        self,
        ctx: RequestContext,
        decision: Decision,
        call: ModelCall,
        result: CallResult,
        reason: str | None,
    ) -> float:
        """:meth:`judge` of a paid answer: when the judge raises, the call is still recorded
        (outcome ``error``, with its usage and cost) before the error propagates, so the
        ledger matches what the budget was charged."""
        try:
            return self.judge(ctx, call, result.response)
        except Exception as exc:
            self._record_paid(ctx, decision, call, result, "error", reason, exc)
            raise

    def _record_paid(
        self,
        ctx: RequestContext,
        decision: Decision,
        call: ModelCall,
        result: CallResult,
        outcome: CallOutcome,
        reason: str | None,
        error: BaseException | None = None,
    ) -> None:
        """Record a call that answered (and is paid for) with ``outcome``."""
        emit_record(
            self._pm,
            ctx,
            decision,
            call,
            started_at=result.started_at,
            usage=result.response.usage,
            latency_s=result.latency_s,
            outcome=outcome,
            error=error,
            reason=reason,
            cost_usd=result.cost_usd,
        )

    def fits_ceiling(self, ctx: RequestContext, model: str, spent: float) -> bool:
        """Whether calling ``model`` keeps the request under its cost ceiling (worst case)."""
        ceiling = ctx.request.routing.max_cost_usd
        if ceiling is None:
            return True
        features = ctx.features or analyze(ctx.request)
        return spent + worst_case_cost(features, ctx.request, self._catalog.get(model)) <= ceiling

    # -- one model ------------------------------------------------------------------------------

    async def call_once(
        self,
        ctx: RequestContext,
        decision: Decision,
        model: str,
        state: RunState,
        reason: str | None,
    ) -> tuple[ModelCall, CallResult]:
        """One call of ``model``, through its breaker; a failure is recorded and raised."""
        breakers = self.breakers
        if breakers is not None:
            breakers.acquire(model, ctx)  # CircuitOpen: nothing called, nothing recorded
        call = self.make_call(ctx, model, state, stream=False)
        try:
            result = await call_model(self._pm, ctx, decision, call, reason=reason)
        except ProviderError as exc:
            if breakers is not None:
                breakers.failed(model, error_kind(exc), ctx)
            raise
        except BaseException:  # refused by a budget, cancelled: says nothing of the model
            if breakers is not None:
                breakers.abandoned(model)
            raise
        if breakers is not None:
            breakers.succeeded(model, ctx)
        return call, result

    async def call_with_retries(
        self,
        ctx: RequestContext,
        decision: Decision,
        model: str,
        state: RunState,
        reason: str | None = None,
    ) -> tuple[ModelCall, CallResult, str | None]:
        """Call ``model``, retrying as the policy says; every failed call is an attempt.

        :return: the call that answered, its result, and the reason to record for it.
        :raises ProviderError: the last failure, once no retry is left.
        """
        retries = 0
        current = reason
        while True:
            try:
                call, result = await self.call_once(ctx, decision, model, state, current)
            except CircuitOpen:
                raise
            except ProviderError as exc:
                state.attempts.append(Attempt(model=model, outcome="failed", error=str(exc)))
                delay = self.policy.retry_delay(exc, retries, state.remaining())
                if delay is None:
                    raise
                retries += 1
                kind = error_kind(exc)
                self.announce_retry(ctx, model, retries, delay, exc)
                current = f"{reason or decision.reason} (retry {retries} after {kind})"
                await asyncio.sleep(delay)
            else:
                return call, result, current

    def announce_retry(
        self, ctx: RequestContext, model: str, retry: int, delay: float, error: ProviderError
    ) -> None:
        """Broadcast the ``retry`` event."""
        name = type(error).__name__
        emit(self._pm, "retry", ctx, model=model, attempt=retry, delay_s=delay, error=name)

    async def step(
        self,
        ctx: RequestContext,
        decision: Decision,
        model: str,
        state: RunState,
        *,
        next_model: str | None = None,
        first: bool = False,
        reason: str | None = None,
    ) -> Step:
        """Call ``model`` whole (with retries); judge the answer when ``next_model`` could
        still be escalated to; record it.

        A failed call comes back with ``error`` set instead of raising, so the caller decides
        whether to escalate, fall back or raise; a budget refusal of the ``first`` call raises.
        """
        try:
            call, result, reason = await self.call_with_retries(ctx, decision, model, state, reason)
        except ProviderError as exc:
            return Step(model, None, None, exc, None, False)
        except BudgetExceeded as exc:
            if first:
                raise
            state.attempts.append(Attempt(model=model, outcome="failed", error=str(exc)))
            return Step(model, None, None, exc, None, False)
        score: float | None = None
        accept = next_model is None
        if next_model is not None:
            threshold = decision.threshold if decision.threshold is not None else 0.5
            score = self.judged(ctx, decision, call, result, reason)
            accept = score >= threshold
            if not accept and not self.fits_ceiling(ctx, next_model, state.spent + result.cost_usd):
                accept = True
                state.notes.append(
                    f"{model} scored {score:.2f} < threshold {threshold:.2f}, but escalating to "
                    f"{next_model} would pass the cost ceiling "
                    f"${ctx.request.routing.max_cost_usd:.6f}: served its answer"
                )
        self._record_paid(ctx, decision, call, result, "ok" if accept else "escalated", reason)
        state.attempts.append(_attempt(model, result, score, accept))
        return Step(model, call, result, None, score, accept)

    # -- fallback -------------------------------------------------------------------------------

    def next_fallback(
        self,
        ctx: RequestContext,
        decision: Decision,
        state: RunState,
        failure: ProviderError,
        from_model: str,
    ) -> tuple[str, str] | None:
        """After ``from_model`` failed with ``failure``: the next-best eligible candidate to
        call and the reason to record, or ``None`` when the request should fail.

        Broadcasts the ``fallback`` event and notes it for the decision's reason. None starts
        after ``total_timeout_s``.
        """
        left = state.remaining()
        if not self.policy.falls_back(failure) or (left is not None and left <= 0.0):
            return None
        while state.fallbacks < self.reliability.max_fallbacks:
            order = fallback_order(decision, state.tried)
            if not order:
                return None
            model = order[0]
            state.tried.add(model)
            if not self.fits_ceiling(ctx, model, state.spent):
                state.notes.append(f"fallback {model} skipped: over the request's cost ceiling")
                continue
            state.fallbacks += 1
            kind = error_kind(failure)
            emit(self._pm, "fallback", ctx, from_model=from_model, to_model=model, reason=kind)
            state.notes.append(f"{from_model} failed ({kind}); fell back to {model}")
            reason = (
                f"fallback from {from_model} after {kind}: the next-best eligible candidate; "
                f"routing said: {decision.reason}"
            )
            return model, reason
        return None

    # -- a whole decision -----------------------------------------------------------------------

    async def run(self, ctx: RequestContext, decision: Decision) -> Completion:
        """Answer the request as ``decision`` says, falling back when every model named fails."""
        state = self.start(decision)
        models = decision.models
        # the best answer the judge rejected: served if every stronger model then fails
        best: Step | None = None
        failure: ProviderError | None = None
        error: ProviderError | BudgetExceeded | None = None
        for index, model in enumerate(models):
            if index and state.expired():
                break  # total_timeout_s: no cascade step starts after the deadline
            nxt = models[index + 1] if index + 1 < len(models) else None
            step = await self.step(ctx, decision, model, state, next_model=nxt, first=index == 0)
            if step.result is None:
                error = step.error
                failure = step.error if isinstance(step.error, ProviderError) else failure
                continue
            state.spent += step.result.cost_usd
            if step.accepted:
                return completion_of(ctx, decision, step, state)
            if best is None or (step.score or 0.0) > (best.score or 0.0):
                best = step
        if best is not None:
            note_rejected_served(decision, state, best, error)
            return completion_of(ctx, decision, best, state)
        while failure is not None:
            from_model = failure.model
            chosen = self.next_fallback(ctx, decision, state, failure, from_model)
            if chosen is None:
                break
            model, reason = chosen
            step = await self.step(ctx, decision, model, state, reason=reason)
            if step.result is not None:
                state.spent += step.result.cost_usd
                return completion_of(ctx, decision, step, state)
            error = step.error
            failure = step.error if isinstance(step.error, ProviderError) else failure
        assert error is not None  # every model failed, and each failure is kept
        raise failure or error


@dataclass(frozen=True, slots=True)
class Step:
    """One non-streamed call of a decision: its result (or error), judge score, acceptance."""

    model: str
    call: ModelCall | None
    result: CallResult | None
    error: ProviderError | BudgetExceeded | None
    score: float | None
    accepted: bool


def _attempt(model: str, result: CallResult, score: float | None, accepted: bool) -> Attempt:
    return Attempt(
        model=model,
        outcome="accepted" if accepted else "escalated",
        usage=result.response.usage,
        cost_usd=result.cost_usd,
        latency_s=result.latency_s,
        judge_score=score,
    )


def note_rejected_served(
    decision: Decision,
    state: RunState,
    best: Step,
    error: ProviderError | BudgetExceeded | None,
) -> None:
    """Note on the reason that ``best``, an answer the judge rejected, is served because the
    stronger models could not answer (``error``, the last failure; ``None``: the request's
    ``total_timeout_s`` ran out before the next step)."""
    threshold = decision.threshold if decision.threshold is not None else 0.5
    if isinstance(error, ProviderError):
        why = f"{error.model} failed ({error_kind(error)})"
    elif isinstance(error, BudgetExceeded):
        why = f"{error.model or 'the next model'} was refused by budget {error.budget}"
    else:
        why = "total_timeout_s ran out"
    state.notes.append(
        f"{why}: served the best answer the judge rejected, {best.model}'s "
        f"(score {best.score or 0.0:.2f} < threshold {threshold:.2f})"
    )


def noted(decision: Decision, state: RunState) -> Decision:
    """``decision`` with the run's fallback notes joined to its reason."""
    if not state.notes:
        return decision
    return decision.model_copy(update={"reason": "; ".join([decision.reason, *state.notes])})


def completion_of(
    ctx: RequestContext, decision: Decision, step: Step, state: RunState
) -> Completion:
    """The :class:`Completion` serving ``step``'s answer; its cost covers every attempt."""
    assert step.result is not None
    assert step.call is not None
    response = step.result.response
    return Completion(
        request_id=ctx.request.request_id,
        text=response.text,
        tool_calls=response.tool_calls,
        finish_reason=response.finish_reason,
        usage=response.usage,
        cost_usd=state.spent,
        model=step.call.card.id,
        provider=step.call.card.provider,
        decision=noted(decision, state),
        attempts=state.attempts,
        latency_s=time.perf_counter() - state.t0,
    )
