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
#: Scores further apart than this are never tied, whatever their rounding (see ``_top_two``).
_GAP = 10 * _TIE
#: ... as long as they are no larger than this (every score is in [-2, 1] in practice).
_BOUND = 1e6


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
        settings = task.settings
        cost_weight = settings.cost_weight
        complexity = min(max(task.features.complexity, 0.0), 1.0)
        w_eff = cost_weight if task.prompt_aware else cost_weight * (1.0 - complexity) ** 2
        candidates = task.candidates
        values, scores = _utilities(candidates, w_eff, settings.latency_weight)
        if len(scores) < len(values):  # repeated ids: each reads the score its id kept
            values = [scores[c.model] for c in candidates]
        first, second = _top_two(candidates, values)
        chosen = candidates[first]
        reason = (
            f"{chosen.model}: best score {values[first]:.3f} "
            f"(quality {chosen.quality:.2f}, ${chosen.cost_usd:.6f}, ~{chosen.latency_s:.1f}s) "
            f"at cost_weight {cost_weight:.2f}, "
            + ("learned estimates" if task.prompt_aware else f"complexity {complexity:.2f}")
        )
        if second is not None:
            runner_up = candidates[second]
            reason += (
                f"; next {runner_up.model} {values[second]:.3f} "
                f"(quality {runner_up.quality:.2f}, ${runner_up.cost_usd:.6f})"
            )
        return task.decide(self.name, [chosen.model], reason, scores=scores)


def hybrid_scores(
    candidates: Sequence[Candidate], cost_weight: float, latency_weight: float
) -> dict[str, float]:
    """Each candidate's utility (see :class:`HybridStrategy`), ``cost_weight`` already effective."""
    return _utilities(candidates, cost_weight, latency_weight)[1]


def _utilities(
    candidates: Sequence[Candidate], cost_weight: float, latency_weight: float
) -> tuple[list[float], dict[str, float]]:
    """Each candidate's utility: a list in the order of ``candidates``, and the dict
    :func:`hybrid_scores` returns (by id; a repeated id keeps its last score)."""
    log = math.log
    try:
        # When every cost is positive (or NaN), none is below the floor (a tenth of the
        # cheapest positive one) and each is its own log; a zero or negative one raises.
        logs = [log(c.cost_usd) for c in candidates]
    except (ValueError, TypeError):
        costs = [c.cost_usd for c in candidates]
        positive = [x for x in costs if x > 0.0]
        floor = min(positive) / 10.0 if positive else 1.0
        # ``floor if floor > x else x`` is ``max(x, floor)`` (NaN included) without a builtin
        logs = [log(floor if floor > x else x) for x in costs]
    log_min = min(logs)
    log_span = max(logs) - log_min
    latencies = [c.latency_s for c in candidates]
    lat_min = min(latencies)
    lat_span = max(latencies) - lat_min
    values: list[float] = []
    scores: dict[str, float] = {}
    append = values.append
    if log_span > 0.0 and lat_span > 0.0:  # the usual case, without two tests per candidate
        for c, log_cost, latency in zip(candidates, logs, latencies, strict=True):
            scores[c.model] = score = (
                c.quality
                - cost_weight * ((log_cost - log_min) / log_span)
                - latency_weight * ((latency - lat_min) / lat_span)
            )
            append(score)
        return values, scores
    for c, log_cost, latency in zip(candidates, logs, latencies, strict=True):
        c_norm = (log_cost - log_min) / log_span if log_span > 0.0 else 0.0
        l_norm = (latency - lat_min) / lat_span if lat_span > 0.0 else 0.0
        scores[c.model] = score = c.quality - cost_weight * c_norm - latency_weight * l_norm
        append(score)
    return values, scores


def _top_two(candidates: Sequence[Candidate], values: list[float]) -> tuple[int, int | None]:
    """The positions of the best candidate and of the runner-up (``None`` when alone).

    The ranking: ``(-round(score / _TIE), cost, id)``, ascending, ties kept in order. Rounding
    every score is most of its cost, and needless when the three best scores are more than
    ``_GAP`` apart (and every score finite and within ``_BOUND``, so no rounding could raise):
    then their rounded values differ too (by at least 8), and the two best scores alone say
    which candidates come first.
    """
    n = len(values)
    if n >= 3:
        total = sum(values)
        if total - total == 0.0:  # no score is NaN or infinite
            ranked = sorted(values, reverse=True)
            top, runner_up = ranked[0], ranked[1]
            if (
                top - runner_up > _GAP
                and runner_up - ranked[2] > _GAP
                and top <= _BOUND
                and ranked[-1] >= -_BOUND
            ):
                return values.index(top), values.index(runner_up)
    keys = [
        (-round(value / _TIE), c.cost_usd, c.model)
        for c, value in zip(candidates, values, strict=True)
    ]
    order = sorted(range(n), key=keys.__getitem__)
    return order[0], order[1] if n > 1 else None


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`HybridStrategy`."""
    register(HybridStrategy())
