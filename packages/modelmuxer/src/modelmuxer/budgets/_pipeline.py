"""What the guard does in the request pipeline: lean towards cost, exclude what a budget cannot
cover, and bracket each model call with a reservation."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from modelmuxer.analysis import analyze
from modelmuxer.analysis.tokens import estimate_tokens
from modelmuxer.budgets.model import BudgetState, nano_ceil
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import ModelCard, Usage

if TYPE_CHECKING:
    from modelmuxer.backends.base import ModelCall, ModelResponse, StreamDelta
    from modelmuxer.budgets.guard import BudgetGuard
    from modelmuxer.context import RequestContext

__all__ = [
    "DECISION_NOTES",
    "exclude_unaffordable",
    "guarded_call",
    "guarded_stream",
    "lean_towards_cost",
]

#: ``ctx.state`` key of the notes the router appends to the decision's reason.
DECISION_NOTES = "decision_notes"


def usd(amount: Decimal) -> str:
    """``$0.012``: exact, without trailing zeros."""
    return f"${amount.normalize():f}"


def label(state: BudgetState) -> str:
    """``org:acme/day`` for the budget's concrete subject."""
    budget = state.budget
    if budget.scope == "global":
        return budget.name
    return f"{budget.scope}:{state.subject}/{budget.period}"


def _note(ctx: RequestContext, text: str) -> None:
    ctx.state.setdefault(DECISION_NOTES, []).append(text)


def lean_towards_cost(guard: BudgetGuard, ctx: RequestContext) -> None:
    """Below ``guard.low_water`` of a budget left, raise ``cost_weight`` towards 1 and lower
    ``quality_target`` towards half, in proportion to how far below it is."""
    if not guard.budgets or guard.low_water <= 0.0:
        return
    states = guard.last_seen(ctx.request.identity)
    if not states:
        return
    tightest = min(states, key=lambda s: s.remaining_fraction)
    left = tightest.remaining_fraction
    if left >= guard.low_water:
        return
    pressure = 1.0 - left / guard.low_water
    routing = ctx.request.routing
    weight = guard.cost_weight if routing.cost_weight is None else routing.cost_weight
    target = guard.quality_target if routing.quality_target is None else routing.quality_target
    weight = weight + (1.0 - weight) * pressure
    target = target * (1.0 - 0.5 * pressure)
    leaned = routing.model_copy(update={"cost_weight": weight, "quality_target": target})
    ctx.request = ctx.request.model_copy(update={"routing": leaned})
    _note(
        ctx,
        f"budget {label(tightest)}: {left:.0%} left, leaning towards cost "
        f"(cost_weight {weight:.2f}, quality_target {target:.2f})",
    )


def exclude_unaffordable(
    guard: BudgetGuard, ctx: RequestContext, candidates: Sequence[ModelCard]
) -> dict[str, str] | None:
    """Exclude candidates whose worst case exceeds what the tightest budget has left.

    Judged from the usage this guard last saw; when no candidate fits, the cheapest stays so
    that the store's atomic reservation decides (and refuses with :class:`BudgetExceeded`).
    """
    if not guard.budgets or not candidates:
        return None
    states = guard.last_seen(ctx.request.identity)
    if not states:
        return None
    tightest = min(states, key=lambda s: s.remaining_usd)
    left = tightest.remaining_usd
    features = ctx.features or analyze(ctx.request)
    worst = {c.id: nano_ceil(worst_case_cost(features, ctx.request, c)) for c in candidates}
    over = [model for model, w in worst.items() if w > left]
    if not over:
        return None
    why = f"budget {label(tightest)}: {usd(left)} left"
    out = {model: f"{why}, worst case {usd(worst[model])}" for model in over}
    if len(out) == len(candidates):
        cheapest = min(worst, key=lambda model: (worst[model], model))
        del out[cheapest]
        _note(ctx, f"{why}: no model's worst case fits; trying the cheapest, {cheapest}")
    return out or None


def _worst_case(ctx: RequestContext, call: ModelCall) -> float:
    features = ctx.features or analyze(call.request)
    return worst_case_cost(features, call.request, call.card)


def _cost(card: ModelCard, usage: Usage) -> float:
    return card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


async def guarded_call(
    guard: BudgetGuard, ctx: RequestContext, call: ModelCall, inner: Awaitable[ModelResponse]
) -> ModelResponse:
    """Reserve, await ``inner``, settle its actual cost; release on error or cancellation."""
    try:
        reservation = await guard.reserve(
            ctx.request.identity, call.card, _worst_case(ctx, call), ctx
        )
    except BaseException:
        if inspect.iscoroutine(inner):
            inner.close()  # never started: close it rather than leave it un-awaited
        raise
    try:
        response = await inner
    except BaseException:
        await guard.release(reservation)
        raise
    await guard.settle(reservation, _cost(call.card, response.usage))
    return response


async def guarded_stream(
    guard: BudgetGuard, ctx: RequestContext, call: ModelCall, inner: AsyncIterator[StreamDelta]
) -> AsyncGenerator[StreamDelta, None]:
    """Reserve, relay ``inner``, and settle at the end, also on an early stop or an error.

    The cost settled is what the pipeline records: the provider's usage, or (when the stream
    ended before reporting it) the prompt plus the tokens received so far; nothing for a stream
    that failed before its first delta.
    """
    try:
        reservation = await guard.reserve(
            ctx.request.identity, call.card, _worst_case(ctx, call), ctx
        )
    except BaseException:
        await _aclose(inner)
        raise
    usage: Usage | None = None
    texts: list[str] = []
    arguments: list[str] = []
    received = failed = False
    try:
        async for delta in inner:
            received = True
            if delta.usage is not None:
                usage = delta.usage
            texts.append(delta.text)
            arguments.extend(part.arguments for part in delta.tool_calls)
            yield delta
    except Exception:
        failed = True
        raise
    finally:
        try:
            await _aclose(inner)
        finally:
            if failed and not received:
                # failed before anything arrived (refused, connection dropped): nothing was
                # used, as the pipeline records; a retry or fallback is reserved afresh
                usage = Usage()
            elif usage is None:
                features = ctx.features or analyze(ctx.request)
                usage = Usage(
                    prompt_tokens=features.prompt_tokens,
                    completion_tokens=estimate_tokens("".join(texts) + "".join(arguments)),
                )
            await guard.settle(reservation, _cost(call.card, usage))


async def _aclose(iterator: AsyncIterator[StreamDelta]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
