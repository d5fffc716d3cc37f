"""Estimates of quality, cost and latency for one candidate on one request.

Until a learned predictor is loaded (through ``modelmuxer_quality_estimator``), quality comes
from the card's prior adjusted by the query's features: every model does well on easy queries,
and the gap between weak and strong models widens as complexity grows.

An estimator that reads the request's text (the learned predictor) implements
:class:`BatchQualityEstimator` as well: the router then calls ``quality_batch`` once per request
for all candidates, so the text is featurised once, not once per candidate.

An estimator whose estimates already know how hard *this prompt* is for each model (a trained
predictor) declares it with the optional class attribute ``prompt_aware = True`` (read with
:func:`is_prompt_aware`; absent means ``False``). The router passes it on as
``RoutingTask.prompt_aware``, and strategies built around the priors (``hybrid``'s complexity
discount) then stop adding their own difficulty heuristics on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.errors import PluginError
from modelmuxer.strategies.base import Candidate
from modelmuxer.types import ModelCard, Request

__all__ = [
    "BatchQualityEstimator",
    "PriorQualityEstimator",
    "QualityEstimator",
    "estimate_candidate",
    "estimate_candidates",
    "is_prompt_aware",
    "worst_case_cost",
]


@runtime_checkable
class QualityEstimator(Protocol):
    """Estimates P(good answer | request, model).

    Optional attribute: ``prompt_aware`` (bool, default ``False`` when absent), ``True`` when
    the estimates are learned per prompt rather than derived from priors and query analysis.
    It is not part of the structural check, so existing estimators need not declare it.
    """

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        """A probability in [0, 1]."""
        ...


@runtime_checkable
class BatchQualityEstimator(QualityEstimator, Protocol):
    """A :class:`QualityEstimator` that also scores all candidates of a request at once."""

    def quality_batch(
        self, features: QueryFeatures, request: Request, cards: Sequence[ModelCard]
    ) -> Sequence[float]:
        """One probability in [0, 1] per card, in the order of ``cards``."""
        ...


def is_prompt_aware(estimator: object) -> bool:
    """Whether ``estimator`` declares ``prompt_aware = True`` (see :class:`QualityEstimator`)."""
    return getattr(estimator, "prompt_aware", False) is True


class PriorQualityEstimator:
    """Quality from the card's prior, adjusted by query complexity.

    With prior ``p`` and complexity ``c``: ``q = 1 - (1 - p) * (0.4 + 1.6 * c)``, clamped to
    [0.01, 0.99]. An easy query (c = 0) keeps 60% of every model's headroom; a hard one (c = 1)
    doubles every model's error rate, so a 0.9 model falls to 0.8 and a 0.7 model to 0.4.
    A per-task prior on the card (``quality_by_task``) replaces the general prior.
    """

    #: derived from priors and query analysis, not learned from the prompt
    prompt_aware = False

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        prior = card.quality_by_task.get(features.task_type, card.quality)
        q = 1.0 - (1.0 - prior) * (0.4 + 1.6 * features.complexity)
        # min(max(q, 0.01), 0.99) as conditional expressions: the same values (NaN included),
        # at a third of the cost of two builtin calls, once per candidate per request
        q = 0.01 if q < 0.01 else q
        return 0.99 if q > 0.99 else q


def _max_output(request: Request, card: ModelCard) -> int:
    requested = request.params.max_tokens
    return min(requested, card.max_output_tokens) if requested else card.max_output_tokens


def worst_case_cost(features: QueryFeatures, request: Request, card: ModelCard) -> float:
    """The most this call can cost: the whole prompt plus ``max_tokens`` of output.

    Without ``max_tokens`` the model's own output limit bounds it; set ``max_tokens`` to make
    cost ceilings and budget reservations tight.
    """
    return card.cost_usd(features.prompt_tokens, _max_output(request, card))


def estimate_candidates(
    features: QueryFeatures,
    request: Request,
    cards: Sequence[ModelCard],
    estimator: QualityEstimator,
) -> tuple[Candidate, ...]:
    """Every card's :class:`Candidate`; a batch estimator is asked once for all qualities."""
    batch = getattr(estimator, "quality_batch", None)
    if batch is None:
        return _estimate_all(features, request, cards, estimator, None)
    qualities = batch(features, request, cards)
    if len(qualities) != len(cards):
        raise PluginError(
            f"{type(estimator).__name__}.quality_batch returned {len(qualities)} qualities "
            f"for {len(cards)} candidates"
        )
    return _estimate_all(features, request, cards, estimator, [float(q) for q in qualities])


def _estimate_all(
    features: QueryFeatures,
    request: Request,
    cards: Sequence[ModelCard],
    estimator: QualityEstimator,
    qualities: Sequence[float] | None,
) -> tuple[Candidate, ...]:
    """:func:`estimate_candidate` for every card, in one loop with its arithmetic inlined (and
    :class:`PriorQualityEstimator`'s, when it is the estimator): the same values, without two
    or three function calls per candidate on the routing path."""
    requested = request.params.max_tokens
    expected = features.expected_output_tokens
    prompt_tokens = features.prompt_tokens
    priors = qualities is None and type(estimator) is PriorQualityEstimator
    task = features.task_type
    widen = 0.4 + 1.6 * features.complexity  # PriorQualityEstimator's, once per request
    # looked up only when asked: an estimator answering in batch need not have ``quality``
    quality_of = None if qualities is not None or priors else estimator.quality
    out = []
    for index, card in enumerate(cards):
        if qualities is not None:
            quality = qualities[index]
        elif priors:
            q = 1.0 - (1.0 - card.quality_by_task.get(task, card.quality)) * widen
            q = 0.01 if q < 0.01 else q
            quality = 0.99 if q > 0.99 else q
        else:
            assert quality_of is not None
            quality = quality_of(features, card)
        max_out = card.max_output_tokens
        if requested and requested < max_out:
            max_out = requested
        out_tokens = expected if expected <= max_out else max_out
        prompt_cost = prompt_tokens * card.input_cost_per_token
        out_price = card.output_cost_per_token
        latency = card.latency
        out.append(
            Candidate(
                card,
                quality,
                prompt_cost + out_tokens * out_price,
                prompt_cost + max_out * out_price,
                latency.ttft_s + out_tokens / latency.tokens_per_s,
            )
        )
    return tuple(out)


def estimate_candidate(
    features: QueryFeatures,
    request: Request,
    card: ModelCard,
    estimator: QualityEstimator,
    quality: float | None = None,
) -> Candidate:
    """The candidate's quality, expected cost, worst-case cost and expected latency.

    ``quality`` given (by a batch estimator) is used as is; otherwise the estimator is asked.
    """
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
        estimator.quality(features, card) if quality is None else quality,
        prompt_cost + out_tokens * out_price,
        prompt_cost + max_out * out_price,
        latency.ttft_s + out_tokens / latency.tokens_per_s,
    )
