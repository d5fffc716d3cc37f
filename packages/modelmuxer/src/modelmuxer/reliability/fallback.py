"""Which model answers when the chosen one fails: the decision's next-best eligible candidate."""

from __future__ import annotations

from collections.abc import Collection

from modelmuxer.types import CandidateEstimate, Decision

__all__ = ["fallback_order"]


def fallback_order(decision: Decision, tried: Collection[str]) -> list[str]:
    """The decision's eligible candidates not in ``tried``, best first.

    "Best" is the strategy's own ranking when it scored the candidates (``hybrid``: highest
    score first); otherwise the highest estimated quality (the answer most likely to be good),
    the cheaper first among equals, then the model id. Excluded candidates (hard constraints,
    policies, budgets, open breakers) never appear: a fallback is a model routing allowed.
    """
    eligible = [c for c in decision.candidates if c.excluded is None and c.model not in tried]
    if any(c.score is not None for c in eligible):
        eligible.sort(key=_by_score)
    else:
        eligible.sort(key=_by_quality)
    return [c.model for c in eligible]


def _by_score(c: CandidateEstimate) -> tuple[float, float, str]:
    score = c.score if c.score is not None else float("-inf")
    return (-score, c.cost_usd, c.model)


def _by_quality(c: CandidateEstimate) -> tuple[float, float, str]:
    return (-c.quality, c.cost_usd, c.model)
