"""``utility``: the expected-utility rule, for calibrated quality estimates.

Registered by a loaded trained router (and available to ``modelmuxer eval``). Where ``hybrid``
compares log-scaled costs and discounts cost on complex queries (a heuristic for the priors,
which know nothing about the prompt), a trained predictor's estimates are calibrated
probabilities that already know how hard the prompt is for each model. The rule that maximises
expected quality for a given average spend is then linear in cost (a Lagrangian of the budget
constraint): choose the candidate with the highest ::

    score = quality - k * cost / cost_max,    k = cost_weight / (1 - cost_weight)

``cost_max`` is the dearest candidate's expected cost for this request (so ``k`` is unit-free),
and ``cost_weight`` is the same knob as ``hybrid``'s: 0 picks the best estimated quality, 0.5
trades one point of quality for the whole price span, 1 picks the cheapest. Ties go to the
cheaper model, then the smaller id.
"""

from __future__ import annotations

from collections.abc import Callable

from modelmuxer.hookspecs import hookimpl
from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy
from modelmuxer.types import Decision

__all__ = [
    "UtilityCascadeStrategy",
    "UtilityStrategy",
    "modelmuxer_register_strategies",
    "utilities",
]

_CHEAPEST = 1e12


def utilities(task: RoutingTask) -> tuple[dict[str, float], list[Candidate]]:
    """Each candidate's utility at ``task.settings.cost_weight``, and the candidates best
    first (ties: the cheaper, then the smaller id)."""
    weight = min(max(task.settings.cost_weight, 0.0), 1.0)
    k = _CHEAPEST if weight >= 1.0 else weight / (1.0 - weight)
    top = max(c.cost_usd for c in task.candidates)
    scale = k / top if top > 0.0 else 0.0
    scores = {c.model: c.quality - scale * c.cost_usd for c in task.candidates}
    ranked = sorted(task.candidates, key=lambda c: (-scores[c.model], c.cost_usd, c.model))
    return scores, ranked


class UtilityStrategy:
    """The candidate with the best estimated quality minus its scaled expected cost."""

    name = "utility"
    description = "best estimated quality minus cost_weight-scaled cost (for trained routers)"

    def select(self, task: RoutingTask) -> Decision:
        scores, ranked = utilities(task)
        chosen = ranked[0]
        reason = (
            f"{chosen.model}: best utility {scores[chosen.model]:.3f} (quality "
            f"{chosen.quality:.2f}, ${chosen.cost_usd:.6f}) at cost_weight "
            f"{task.settings.cost_weight:.2f}"
        )
        return task.decide(self.name, [chosen.model], reason, scores=scores)


class UtilityCascadeStrategy:
    """The ``utility`` choice, checked by the judge: a two-step cascade whose threshold comes
    from the same target.

    The first model is the best-utility candidate ``s``; the second is the next-best ``b``,
    when it is dearer. After ``s`` answers, going on to ``b`` is worth ``b``'s utility
    (its estimated quality minus its scaled cost; what ``s`` cost is spent either way), and
    keeping the answer is worth the judge's P(answer is good). So the threshold is ``b``'s
    utility: no hand-set number, one knob (``cost_weight``) for both the choice and the check.
    With a cost ceiling (``routing.max_cost_usd``) that both worst cases do not fit, only ``s``
    is called.
    """

    name = "utility_cascade"
    description = (
        "the utility choice, escalated when the judge's P(good) is below escalating's worth"
    )

    def select(self, task: RoutingTask) -> Decision:
        scores, ranked = utilities(task)
        first = ranked[0]
        dearer = [c for c in ranked[1:] if c.cost_usd > first.cost_usd]
        ceiling = task.request.routing.max_cost_usd
        if dearer and ceiling is not None:
            dearer = [c for c in dearer if first.worst_cost_usd + c.worst_cost_usd <= ceiling]
        if not dearer or scores[dearer[0].model] <= 0.0:
            reason = (
                f"{first.model}: best utility {scores[first.model]:.3f}, "
                "nothing worth escalating to"
            )
            return task.decide(self.name, [first.model], reason, scores=scores)
        second = dearer[0]
        threshold = min(max(scores[second.model], 0.0), 1.0)
        reason = (
            f"cascade {first.model} -> {second.model}: keep the first answer when the judge's "
            f"P(good) reaches {threshold:.2f}, the utility of escalating (quality "
            f"{second.quality:.2f}, ${second.cost_usd:.6f}, cost_weight "
            f"{task.settings.cost_weight:.2f})"
        )
        return task.decide(
            self.name, [first.model, second.model], reason, scores=scores, threshold=threshold
        )


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`UtilityStrategy` and :class:`UtilityCascadeStrategy`."""
    register(UtilityStrategy())
    register(UtilityCascadeStrategy())
