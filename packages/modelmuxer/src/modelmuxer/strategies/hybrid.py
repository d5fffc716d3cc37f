"""``hybrid`` (the default): one utility trading estimated quality against cost and latency."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from modelmuxer.hookspecs import hookimpl
from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy
from modelmuxer.types import Decision

__all__ = ["HybridStrategy", "hybrid_scores", "modelmuxer_register_strategies"]

#: Scores closer than this are a tie (then the cheaper model, then the smaller id, wins).
_TIE = 1e-9


class HybridStrategy:
    """The candidate with the best utility for this query.

    For each candidate::

        c_norm = log(cost / cost_min) / log(cost_max / cost_min)     # 0 cheapest .. 1 dearest
        l_norm = (latency - latency_min) / (latency_max - latency_min)
        w_eff  = cost_weight * (1 - complexity) ** 2
        score  = quality - w_eff * c_norm - latency_weight * l_norm

    ``cost`` is the expected cost of this request, ``latency`` the expected duration, ``quality``
    the estimated chance of a good answer and ``complexity`` the query's (0 small talk .. 1 hard
    maths or code). Cost is compared on a log scale because model prices span orders of
    magnitude: a model 10x dearer pays the same penalty at any price level. A free model (cost 0,
    e.g. self-hosted) counts as ten times cheaper than the cheapest paid one. When every cost
    (or latency) is equal, that term is 0 for everyone.

    ``cost_weight`` is the one knob (``settings.cost_weight``, default 0.35, which holds the
    request's ``routing.cost_weight`` when set): 0 ignores cost, 1 makes a full price span cost a
    full point of quality. Complexity shrinks it quadratically — fully weighted on small talk, a
    quarter at complexity 0.5, nothing on the hardest queries — so easy queries go to cheap models
    and hard ones earn the stronger model (the prior estimator already widens quality gaps with
    complexity; a linear discount let a cheap model win even hard proofs by a hair).
    With a trained router (``task.prompt_aware``: the estimates were learned per prompt and
    already know how hard this query is for each model) there is no complexity discount,
    ``w_eff = cost_weight``: discounting again would count difficulty twice and pay for the
    strongest model on every prompt that merely *looks* hard.
    ``settings.latency_weight`` (default 0.05) breaks near-ties in favour of faster models, also
    at ``cost_weight`` 0 (set it to 0 too for pure quality). The highest score wins; ties go to
    the cheaper model, then the smaller id. Every candidate's score is in the decision.
    """

    name = "hybrid"
    description = "best trade-off of estimated quality, cost and latency for the query's complexity"

    def select(self, task: RoutingTask) -> Decision:
        cost_weight = task.settings.cost_weight
        complexity = min(max(task.features.complexity, 0.0), 1.0)
        w_eff = cost_weight if task.prompt_aware else cost_weight * (1.0 - complexity) ** 2
        scores = hybrid_scores(task.candidates, w_eff, task.settings.latency_weight)
        # Best first: scores within _TIE count as equal (float noise must not decide between
        # equally good models), then the cheaper, then the smaller id.
        ranked = sorted(
            task.candidates, key=lambda c: (-round(scores[c.model] / _TIE), c.cost_usd, c.model)
        )
        chosen = ranked[0]
        reason = (
            f"{chosen.model}: best score {scores[chosen.model]:.3f} "
            f"(quality {chosen.quality:.2f}, ${chosen.cost_usd:.6f}, ~{chosen.latency_s:.1f}s) "
            f"at cost_weight {cost_weight:.2f}, "
            + ("learned estimates" if task.prompt_aware else f"complexity {complexity:.2f}")
        )
        if len(ranked) > 1:
            runner_up = ranked[1]
            reason += (
                f"; next {runner_up.model} {scores[runner_up.model]:.3f} "
                f"(quality {runner_up.quality:.2f}, ${runner_up.cost_usd:.6f})"
            )
        return task.decide(self.name, [chosen.model], reason, scores=scores)


def hybrid_scores(
    candidates: Sequence[Candidate], cost_weight: float, latency_weight: float
) -> dict[str, float]:
    """Each candidate's utility (see :class:`HybridStrategy`), ``cost_weight`` already effective."""
    costs = [c.cost_usd for c in candidates]
    positive = [x for x in costs if x > 0.0]
    floor = min(positive) / 10.0 if positive else 1.0
    log = math.log
    # ``floor if floor > x else x`` is ``max(x, floor)`` (NaN included) without a builtin call
    logs = [log(floor if floor > x else x) for x in costs]
    log_min = min(logs)
    log_span = max(logs) - log_min
    latencies = [c.latency_s for c in candidates]
    lat_min = min(latencies)
    lat_span = max(latencies) - lat_min
    scores: dict[str, float] = {}
    for c, log_cost in zip(candidates, logs, strict=True):
        c_norm = (log_cost - log_min) / log_span if log_span > 0.0 else 0.0
        l_norm = (c.latency_s - lat_min) / lat_span if lat_span > 0.0 else 0.0
        scores[c.model] = c.quality - cost_weight * c_norm - latency_weight * l_norm
    return scores


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`HybridStrategy`."""
    register(HybridStrategy())
