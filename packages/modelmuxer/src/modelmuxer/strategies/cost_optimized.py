"""``cost_optimized``: the cheapest model expected to be good enough."""

from __future__ import annotations

from collections.abc import Callable

from modelmuxer.hookspecs import hookimpl
from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy
from modelmuxer.types import Decision

__all__ = ["CostOptimizedStrategy", "modelmuxer_register_strategies"]

#: Estimates are floats computed from priors; a target of 0.8 must accept 0.7999999999.
_EPS = 1e-9


class CostOptimizedStrategy:
    """The cheapest candidate whose estimated quality reaches the quality target.

    The target is ``settings.quality_target`` (the request's ``routing.quality_target`` when set).
    "Cheapest" is the expected cost of this request (``Candidate.cost_usd``); equal costs are
    broken by higher quality, then by model id. When no candidate reaches the target, the
    highest-quality one answers (cost, then id, break ties) and the reason says so.
    """

    name = "cost_optimized"
    description = "the cheapest model whose estimated quality reaches the quality target"

    def select(self, task: RoutingTask) -> Decision:
        target = task.settings.quality_target
        best = min(task.candidates, key=_by_quality)
        floor = target - _EPS
        good_enough = [c for c in task.candidates if c.quality >= floor]
        if not good_enough:
            reason = (
                f"{best.model}: no model reaches the quality target {target:.2f}; "
                f"chose the highest estimated quality {best.quality:.2f} (${best.cost_usd:.6f})"
            )
            return task.decide(self.name, [best.model], reason)
        chosen = min(good_enough, key=_by_cost)
        if chosen.model == best.model:
            tail = f"(${chosen.cost_usd:.6f}, also the highest-quality candidate)"
        else:
            tail = f"(${chosen.cost_usd:.6f} vs ${best.cost_usd:.6f} for the best, {best.model})"
        reason = (
            f"{chosen.model}: cheapest model with estimated quality {chosen.quality:.2f} "
            f">= target {target:.2f} {tail}"
        )
        return task.decide(self.name, [chosen.model], reason)


def _by_cost(c: Candidate) -> tuple[float, float, str]:
    return (c.cost_usd, -c.quality, c.model)


def _by_quality(c: Candidate) -> tuple[float, float, str]:
    return (-c.quality, c.cost_usd, c.model)


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`CostOptimizedStrategy`."""
    register(CostOptimizedStrategy())
