"""``cascade``: try a cheap model first, escalate to stronger ones when the judge is unhappy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelmuxer.hookspecs import hookimpl
from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy
from modelmuxer.types import Decision

__all__ = ["CascadeStrategy", "expected_chain_cost", "modelmuxer_register_strategies"]


class CascadeStrategy:
    """An ordered chain of models, cheap to strong; the pipeline runs it and the judge stops it.

    How the chain is built:

    1. Sort the candidates by expected cost and keep only models whose estimated quality is
       strictly higher than every cheaper model kept: a model that costs more and is no better
       than a cheaper one never helps. The chain so ends with the highest-quality model.
    2. Keep at most ``settings.cascade_max_models``: always the cheapest and the strongest, and
       in between the models that minimise the chain's expected cost, where each model's
       estimated quality stands for the chance its answer is accepted.
    3. With a cost ceiling (``request.routing.max_cost_usd``) the chain's cumulative worst-case
       cost must fit it: middle models are dropped first (the costliest first); when even the
       cheapest plus the strongest do not fit, the chain is the single best model that fits.

    The decision's ``threshold`` (``None`` for a chain of one, which has nothing to escalate
    to) comes from a target: the request's ``routing.quality_target`` when it sets one, else
    ``settings.cascade_threshold``. With a learned judge (a trained router) the judge's score is
    a calibrated P(answer is good), so the threshold *is* the quality an accepted answer must be
    expected to have; the cost side of the target is ``routing.max_cost_usd`` (step 3).
    ``modelmuxer eval --strategy cascade`` sweeps it and shows the cost of each setting.
    """

    name = "cascade"
    description = "cheap models first, escalating to stronger ones when the judge rejects an answer"

    def select(self, task: RoutingTask) -> Decision:
        limit = max(1, task.settings.cascade_max_models)
        frontier = _non_dominated(task.candidates)
        chain = _shorten(frontier, limit)
        notes: list[str] = []
        if len(chain) < len(frontier):
            notes.append(
                f"{len(chain)} of {len(frontier)} non-dominated models kept "
                f"(cascade_max_models={limit})"
            )
        ceiling = task.request.routing.max_cost_usd
        if ceiling is not None:
            chain, note = _fit_ceiling(chain, ceiling, task.candidates)
            if note:
                notes.append(note)
        target = task.request.routing.quality_target
        threshold = task.settings.cascade_threshold if target is None else target
        reason = _explain(chain, len(task.candidates), threshold)
        if notes:
            reason += "; " + "; ".join(notes)
        return task.decide(
            self.name,
            [c.model for c in chain],
            reason,
            threshold=threshold if len(chain) > 1 else None,
        )


def expected_chain_cost(chain: Sequence[Candidate]) -> float:
    """The chain's expected cost when each model's answer is accepted with its estimated quality.

    ``c1 + (1 - q1) * (c2 + (1 - q2) * (c3 + ...))``.
    """
    total = 0.0
    reach = 1.0
    for c in chain:
        total += reach * c.cost_usd
        reach *= 1.0 - c.quality
    return total


def _non_dominated(candidates: Sequence[Candidate]) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: (c.cost_usd, -c.quality, c.model))
    kept: list[Candidate] = []
    for c in ordered:
        if not kept or c.quality > kept[-1].quality:
            kept.append(c)
    return kept


def _shorten(frontier: list[Candidate], limit: int) -> list[Candidate]:
    """At most ``limit`` models: the cheapest, the strongest, the best middles between them."""
    n = len(frontier)
    if n <= limit:
        return frontier
    if limit == 1:
        return [frontier[-1]]
    middles = limit - 2
    if middles == 1:
        return _one_middle(frontier)
    last = frontier[-1]
    # best[r][i]: the least expected cost of a chain from frontier[i] to the strongest with r
    # more models strictly between; nxt[r][i] the model following i on that chain.
    best = [[c.cost_usd + (1.0 - c.quality) * last.cost_usd for c in frontier]]
    nxt = [[n - 1] * n]
    for r in range(1, middles + 1):
        row = [float("inf")] * n
        links = [n - 1] * n
        # The chain starts at the cheapest model: the last round needs its row only, which
        # makes the default chain of 3 (one middle) linear in the frontier, not quadratic.
        for i in range(1 if r == middles else n - 1 - r):
            c = frontier[i]
            for j in range(i + 1, n - r):
                cost = c.cost_usd + (1.0 - c.quality) * best[r - 1][j]
                if cost < row[i]:
                    row[i], links[i] = cost, j
        best.append(row)
        nxt.append(links)
    chain = [frontier[0]]
    i = 0
    for r in range(middles, 0, -1):
        i = nxt[r][i]
        chain.append(frontier[i])
    chain.append(last)
    return chain


def _one_middle(frontier: list[Candidate]) -> list[Candidate]:
    """:func:`_shorten` for the default chain of three: its search, with the one round it then
    runs written out (the same arithmetic, so the same middle, ties and NaNs included)."""
    n = len(frontier)
    first, last = frontier[0], frontier[-1]
    first_cost, first_miss, last_cost = first.cost_usd, 1.0 - first.quality, last.cost_usd
    least, link = float("inf"), n - 1
    for j in range(1, n - 1):
        c = frontier[j]
        cost = first_cost + first_miss * (c.cost_usd + (1.0 - c.quality) * last_cost)
        if cost < least:
            least, link = cost, j
    return [first, frontier[link], last]


def _fit_ceiling(
    chain: list[Candidate], ceiling: float, candidates: Sequence[Candidate]
) -> tuple[list[Candidate], str]:
    """The chain trimmed so its summed worst-case cost fits ``ceiling``, and what was done."""
    if sum(c.worst_cost_usd for c in chain) <= ceiling:
        return chain, ""
    chain = list(chain)
    dropped: list[str] = []
    while len(chain) > 2 and sum(c.worst_cost_usd for c in chain) > ceiling:
        middle = max(chain[1:-1], key=lambda c: (c.worst_cost_usd, c.model))
        chain.remove(middle)
        dropped.append(middle.model)
    total = sum(c.worst_cost_usd for c in chain)
    if total <= ceiling:
        return chain, f"dropped {', '.join(dropped)} to fit the cost ceiling ${ceiling:.6f}"
    fitting = [c for c in candidates if c.worst_cost_usd <= ceiling]
    if fitting:
        single = min(fitting, key=lambda c: (-c.quality, c.cost_usd, c.model))
        note = f"no chain fits the cost ceiling ${ceiling:.6f}, so only the best model that does"
    else:
        # Hard constraints normally exclude such models; stay as close to the ceiling as we can.
        single = min(candidates, key=lambda c: (c.worst_cost_usd, -c.quality, c.model))
        note = f"no model fits the cost ceiling ${ceiling:.6f}; the cheapest worst case instead"
    return [single], note


def _explain(chain: list[Candidate], n_candidates: int, threshold: float) -> str:
    worst = sum([c.worst_cost_usd for c in chain])
    if len(chain) == 1:
        only = chain[0]
        why = "the only candidate" if n_candidates == 1 else "a chain of one"
        return (
            f"{only.model}: {why} (estimated quality {only.quality:.2f}, "
            f"${only.cost_usd:.6f} expected, ${worst:.6f} worst case)"
        )
    models = " -> ".join([c.model for c in chain])
    qualities = " -> ".join([f"{c.quality:.2f}" for c in chain])
    return (
        f"cascade {models}: start with {chain[0].model} and escalate while the judge scores "
        f"below {threshold:.2f} (estimated quality {qualities}; expected "
        f"${expected_chain_cost(chain):.6f}, worst case ${worst:.6f})"
    )


@hookimpl
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register :class:`CascadeStrategy`."""
    register(CascadeStrategy())
