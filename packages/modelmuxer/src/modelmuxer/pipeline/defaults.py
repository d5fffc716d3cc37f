"""Built-in hook implementations: the default estimator, strategy dispatch and model calls.

They are ``trylast``, so any third-party implementation of the same hook runs first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from modelmuxer.backends.base import ModelCall, ModelResponse, StreamDelta
from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.plugins import StrategyRegistry
from modelmuxer.strategies.base import RoutingTask
from modelmuxer.strategies.estimates import PriorQualityEstimator, QualityEstimator
from modelmuxer.types import Decision

__all__ = ["StrategyDispatcher"]


@hookimpl(trylast=True)
def modelmuxer_quality_estimator() -> QualityEstimator:
    return PriorQualityEstimator()


@hookimpl(trylast=True)
def modelmuxer_call_model(ctx: RequestContext, call: ModelCall) -> Awaitable[ModelResponse]:
    return call.backend.complete(call)


@hookimpl(trylast=True)
def modelmuxer_stream_model(ctx: RequestContext, call: ModelCall) -> AsyncIterator[StreamDelta]:
    return call.backend.stream(call)


class StrategyDispatcher:
    """Runs the strategy a request names. Registered on each muxer with that muxer's registry."""

    def __init__(self, strategies: StrategyRegistry) -> None:
        self._strategies = strategies

    @hookimpl(trylast=True)
    def modelmuxer_select(self, ctx: RequestContext, task: RoutingTask) -> Decision:
        return self._strategies.get(ctx.strategy).select(task)
