"""Estimates of quality, cost and latency for one candidate on one request.

Until a learned predictor is loaded (through ``modelmuxer_quality_estimator``), quality comes
from the card's prior adjusted by the query's features: every model does well on easy queries,
and the gap between weak and strong models widens as complexity grows.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.strategies.base import Candidate
from modelmuxer.types import ModelCard, Request

__all__ = ["PriorQualityEstimator", "QualityEstimator", "estimate_candidate", "worst_case_cost"]


@runtime_checkable
class QualityEstimator(Protocol):
    """Estimates P(good answer | request, model)."""

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        """A probability in [0, 1]."""
        ...


class PriorQualityEstimator:
    """Quality from the card's prior, adjusted by query complexity.

    With prior ``p`` and complexity ``c``: ``q = 1 - (1 - p) * (0.4 + 1.6 * c)``, clamped to
    [0.01, 0.99]. An easy query (c = 0) keeps 60% of every model's headroom; a hard one (c = 1)
    doubles every model's error rate, so a 0.9 model falls to 0.8 and a 0.7 model to 0.4.
    A per-task prior on the card (``quality_by_task``) replaces the general prior.
    """

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        prior = card.quality_by_task.get(features.task_type, card.quality)
        q = 1.0 - (1.0 - prior) * (0.4 + 1.6 * features.complexity)
        return min(max(q, 0.01), 0.99)


def _max_output(request: Request, card: ModelCard) -> int:
    requested = request.params.max_tokens
    return min(requested, card.max_output_tokens) if requested else card.max_output_tokens


def worst_case_cost(features: QueryFeatures, request: Request, card: ModelCard) -> float:
    """The most this call can cost: the whole prompt plus ``max_tokens`` of output.

    Without ``max_tokens`` the model's own output limit bounds it; set ``max_tokens`` to make
    cost ceilings and budget reservations tight.
    """
    return card.cost_usd(features.prompt_tokens, _max_output(request, card))


def estimate_candidate(
    features: QueryFeatures, request: Request, card: ModelCard, estimator: QualityEstimator
) -> Candidate:
    """The candidate's quality, expected cost, worst-case cost and expected latency."""
    # Inlined arithmetic (same as ModelCard.cost_usd with no cached tokens): this runs once per
    # candidate per request.
    max_out = card.max_output_tokens
    requested = request.params.max_tokens
    if requested and requested < max_out:
        max_out = requested
    out_tokens = features.expected_output_tokens
    if out_tokens > max_out:
        out_tokens = max_out
    prompt_cost = features.prompt_tokens * card.input_cost_per_token
    out_price = card.output_cost_per_token
    latency = card.latency
    return Candidate(
        card,
        estimator.quality(features, card),
        prompt_cost + out_tokens * out_price,
        prompt_cost + max_out * out_price,
        latency.ttft_s + out_tokens / latency.tokens_per_s,
    )
