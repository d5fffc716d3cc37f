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

from collections.abc import Mapping, Sequence
from operator import is_
from typing import NamedTuple, Protocol, runtime_checkable

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.errors import PluginError
from modelmuxer.strategies.base import Candidate
from modelmuxer.types import ModelCard, Request

__all__ = [
    "BatchQualityEstimator",
    "CardProfile",
    "CardProfiles",
    "PriorQualityEstimator",
    "ProfileSet",
    "QualityEstimator",
    "card_profile",
    "estimate_candidate",
    "estimate_candidates",
    "estimate_profiles",
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


#: What the estimates and the context-window check read from a card, copied into a tuple once:
#: ``(card, id, max_output_tokens, context_window, input_cost_per_token, output_cost_per_token,
#: latency.ttft_s, latency.tokens_per_s, quality, quality_by_task, float(max_output_tokens))``.
#: Reading an attribute of a pydantic model costs about seven times reading a tuple item
#: (``BaseModel`` defines ``__getattr__``, which leaves CPython's generic, unspecialised
#: lookup), and these are read for every candidate of every request.
CardProfile = tuple[
    ModelCard, str, int, int, float, float, float, float, float, Mapping[str, float], float
]


def card_profile(card: ModelCard) -> CardProfile:
    """The fields of ``card`` the estimates read (see :data:`CardProfile`)."""
    latency = card.latency
    return (
        card,
        card.id,
        card.max_output_tokens,
        card.context_window,
        card.input_cost_per_token,
        card.output_cost_per_token,
        latency.ttft_s,
        latency.tokens_per_s,
        card.quality,
        card.quality_by_task,
        float(card.max_output_tokens),
    )


class ProfileSet(NamedTuple):
    """The profiles of a set of cards, with what the router asks of them as a whole."""

    #: the profile of each card, in order
    profiles: tuple[CardProfile, ...]
    #: the smallest context window of the cards (0 for none)
    smallest_window: int
    #: the cards' ids
    ids: frozenset[str]


class CardProfiles:
    """The profiles of the cards last asked for, kept until other cards are asked for.

    A router asks for its catalog's cards on every request, and they are the same objects every
    time (cards are frozen): their profiles are built once. Cards are matched by identity. What
    is kept is replaced in one assignment, so concurrent callers never see half of an update.
    """

    def __init__(self) -> None:
        self._kept: tuple[tuple[ModelCard, ...], ProfileSet] = ((), ProfileSet((), 0, frozenset()))

    def of(self, cards: tuple[ModelCard, ...]) -> ProfileSet:
        """The profiles of ``cards``."""
        known, profiles = self._kept
        if len(cards) != len(known) or not all(map(is_, cards, known)):
            built = tuple(card_profile(card) for card in cards)
            profiles = ProfileSet(
                built,
                min((profile[3] for profile in built), default=0),
                frozenset(profile[1] for profile in built),
            )
            self._kept = (cards, profiles)
        return profiles


def estimate_candidates(
    features: QueryFeatures,
    request: Request,
    cards: Sequence[ModelCard],
    estimator: QualityEstimator,
) -> tuple[Candidate, ...]:
    """Every card's :class:`Candidate`; a batch estimator is asked once for all qualities."""
    profiles = [card_profile(card) for card in cards]
    return estimate_profiles(features, request, profiles, estimator, cards=cards)


def estimate_profiles(
    features: QueryFeatures,
    request: Request,
    profiles: Sequence[CardProfile],
    estimator: QualityEstimator,
    *,
    cards: Sequence[ModelCard] | None = None,
) -> tuple[Candidate, ...]:
    """:func:`estimate_candidates` for cards given by their profiles (see :class:`CardProfiles`);
    ``cards``, when the caller has them, are what a batch estimator is given.

    :func:`estimate_candidate` for every card, in one loop with its arithmetic inlined (and
    :class:`PriorQualityEstimator`'s, when it is the estimator): the same values, without two
    or three function calls per candidate on the routing path.
    """
    qualities: list[float] | None = None
    batch = getattr(estimator, "quality_batch", None)
    if batch is not None:
        if cards is None:
            cards = [profile[0] for profile in profiles]
        answered = batch(features, request, cards)
        if len(answered) != len(cards):
            raise PluginError(
                f"{type(estimator).__name__}.quality_batch returned {len(answered)} qualities "
                f"for {len(cards)} candidates"
            )
        qualities = [float(q) for q in answered]
    requested = request.params.max_tokens
    expected = features.expected_output_tokens
    # Token counts as floats, converted once: ``int * float`` converts the int on every
    # operation, to the same double (the card's prices and latencies are floats).
    prompt_f = float(features.prompt_tokens)
    expected_f = float(expected)
    requested_f = float(requested) if requested else 0.0
    priors = qualities is None and type(estimator) is PriorQualityEstimator
    task = features.task_type
    widen = 0.4 + 1.6 * features.complexity  # PriorQualityEstimator's, once per request
    # looked up only when asked: an estimator answering in batch need not have ``quality``
    quality_of = None if qualities is not None or priors else estimator.quality
    # Candidates are built without calling ``__init__``: the same six slots, set here from the
    # profile, without reading the card's id from the pydantic model again.
    new = Candidate.__new__
    out: list[Candidate] = []
    append = out.append
    for index, profile in enumerate(profiles):
        card, model, max_out, _, in_price, out_price, ttft, tps, prior, by_task, max_f = profile
        if priors:
            q = 1.0 - (1.0 - (by_task.get(task, prior) if by_task else prior)) * widen
            q = 0.01 if q < 0.01 else q
            quality = 0.99 if q > 0.99 else q
        elif qualities is not None:
            quality = qualities[index]
        else:
            assert quality_of is not None
            quality = quality_of(features, card)
        if requested and requested < max_out:
            max_out, max_f = requested, requested_f
        out_f = expected_f if expected <= max_out else max_f
        prompt_cost = prompt_f * in_price
        candidate = new(Candidate)
        candidate.card = card
        candidate.quality = quality
        candidate.cost_usd = prompt_cost + out_f * out_price
        candidate.worst_cost_usd = prompt_cost + max_f * out_price
        candidate.latency_s = ttft + out_f / tps
        candidate.model = model
        append(candidate)
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
