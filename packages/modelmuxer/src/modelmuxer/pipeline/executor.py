"""Executing a decision: one call, or a cascade that escalates until the judge accepts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pluggy

from modelmuxer.analysis import analyze
from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.catalog import Catalog
from modelmuxer.context import RequestContext
from modelmuxer.errors import BudgetExceeded, PluginError, ProviderError
from modelmuxer.pipeline.calls import CallResult, call_model, emit_record
from modelmuxer.plugins import BackendRegistry
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import Attempt, Completion, Decision

__all__ = ["Executor", "Step", "completion_of"]


class Executor:
    """Calls the models a decision names, judges cascade answers, records every call."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        catalog: Catalog,
        backends: BackendRegistry,
        timeout_s: float,
    ) -> None:
        self._pm = pm
        self._catalog = catalog
        self._timeout_s = timeout_s
        # the catalog is fixed for the muxer's life: resolve each card's backend once
        self._backend_of = {card.id: backends.for_card(card) for card in catalog}

    def make_call(self, ctx: RequestContext, model: str, attempt: int, stream: bool) -> ModelCall:
        card = self._catalog.get(model)
        return ModelCall(
            card=card,
            request=ctx.request,
            backend=self._backend_of[model],
            timeout_s=ctx.request.params.timeout_s or self._timeout_s,
            attempt=attempt,
            stream=stream,
        )

    def judge(self, ctx: RequestContext, call: ModelCall, response: ModelResponse) -> float:
        """The judge's score for a cascade answer, in [0, 1]."""
        score = self._pm.hook.modelmuxer_judge(ctx=ctx, call=call, response=response)
        if not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise PluginError(f"modelmuxer_judge returned {score!r}; a score in [0, 1] is required")
        return float(score)

    def can_afford_next(
        self, ctx: RequestContext, decision: Decision, index: int, spent: float
    ) -> bool:
        """Whether escalating to ``decision.models[index]`` keeps the request under its ceiling."""
        ceiling = ctx.request.routing.max_cost_usd
        if ceiling is None:
            return True
        card = self._catalog.get(decision.models[index])
        features = ctx.features or analyze(ctx.request)
        return spent + worst_case_cost(features, ctx.request, card) <= ceiling

    async def step(
        self,
        ctx: RequestContext,
        decision: Decision,
        index: int,
        spent: float,
        attempts: list[Attempt],
    ) -> Step:
        """Call ``decision.models[index]`` whole; judge it unless it is the last; record it.

        The attempt is appended to ``attempts``. A failed call comes back with ``error`` set
        (recorded by :func:`call_model`) instead of raising, so the caller decides whether to
        escalate, fall back or raise.
        """
        model = decision.models[index]
        call = self.make_call(ctx, model, index, stream=False)
        try:
            result = await call_model(self._pm, ctx, decision, call)
        except ProviderError as exc:
            attempts.append(Attempt(model=model, outcome="failed", error=str(exc)))
            return Step(call, None, exc, None, False)
        except BudgetExceeded as exc:
            if index == 0:
                raise
            attempts.append(Attempt(model=model, outcome="failed", error=str(exc)))
            return Step(call, None, exc, None, False)
        score: float | None = None
        accept = index == len(decision.models) - 1
        if not accept:
            threshold = decision.threshold if decision.threshold is not None else 0.5
            score = self.judge(ctx, call, result.response)
            accept = score >= threshold or not self.can_afford_next(
                ctx, decision, index + 1, spent + result.cost_usd
            )
        emit_record(
            self._pm,
            ctx,
            decision,
            call,
            started_at=result.started_at,
            usage=result.response.usage,
            latency_s=result.latency_s,
            outcome="ok" if accept else "escalated",
        )
        attempts.append(_attempt(model, result, score, accept))
        return Step(call, result, None, score, accept)

    async def run(self, ctx: RequestContext, decision: Decision) -> Completion:
        """Answer the request as ``decision`` says."""
        t0 = time.perf_counter()
        attempts: list[Attempt] = []
        spent = 0.0
        # the best answer the judge rejected: served if every stronger model then fails
        best: Step | None = None
        for index in range(len(decision.models)):
            step = await self.step(ctx, decision, index, spent, attempts)
            if step.result is None:
                continue
            spent += step.result.cost_usd
            if step.accepted:
                return completion_of(ctx, decision, step, attempts, spent, t0)
            if best is None or (step.score or 0.0) > (best.score or 0.0):
                best = step
        if best is None:
            assert step.error is not None
            raise step.error
        return completion_of(ctx, decision, best, attempts, spent, t0)


@dataclass(frozen=True, slots=True)
class Step:
    """One non-streamed call of a decision: its result (or error), judge score, acceptance."""

    call: ModelCall
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


def completion_of(
    ctx: RequestContext,
    decision: Decision,
    step: Step,
    attempts: list[Attempt],
    spent: float,
    t0: float,
) -> Completion:
    """The :class:`Completion` serving ``step``'s answer; ``spent`` covers every attempt."""
    assert step.result is not None
    response = step.result.response
    return Completion(
        request_id=ctx.request.request_id,
        text=response.text,
        tool_calls=response.tool_calls,
        finish_reason=response.finish_reason,
        usage=response.usage,
        cost_usd=spent,
        model=step.call.card.id,
        provider=step.call.card.provider,
        decision=decision,
        attempts=attempts,
        latency_s=time.perf_counter() - t0,
    )
