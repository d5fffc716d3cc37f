"""``quality_first``: the model with the highest estimated quality."""

from __future__ import annotations

from collections.abc import Callable

from modelmuxer.hookspecs import hookimpl
from modelmuxer.strategies.base import RoutingTask, Strategy
from modelmuxer.types import Decision

__all__ = ["QualityFirstStrategy", "modelmuxer_register_strategies"]


class QualityFirstStrategy:
    """The candidate with the highest estimated quality, whatever it costs.

    Qualities within ``TIE`` (0.005) of the best count as a tie: estimates are not that precise,
    so among tied models the cheaper one (expected cost) answers, then the smaller model id.
    """

    name = "quality_first"
    description = "the highest estimated quality; near-ties go to the cheaper model"

    TIE = 0.005

    def select(self, task: RoutingTask) -> Decision:
        candidates = task.candidates
        top = max([c.quality for c in candidates])
        floor = top - self.TIE
        tied = [c for c in candidates if c.quality >= floor]
        chosen = min(tied, key=lambda c: (c.cost_usd, -c.quality, c.model))
        reason = (
            f"{chosen.model}: highest estimated quality {chosen.quality:.2f} "
            f"(${chosen.cost_usd:.6f})"
        )
        if len(tied) > 1:
            reason += (
                f"; cheapest of {len(tied)} models within {self.TIE} of the best quality {top:.3f}"
            )
        return task.decide(self.name, [chosen.model], reason)


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`QualityFirstStrategy`."""
    register(QualityFirstStrategy())
