"""The quality predictor at run time: P(good answer | request, model) with numpy only.

A logistic model over the prompt's features (:mod:`modelmuxer.learning.text`), fitted jointly
across models (:mod:`modelmuxer.learning.training`)::

    logit P(good | x, m) = x . (w_shared + z_m * w_tier + w_m)

``z_m`` is the model's *tier*: the logit of its prior quality (the card's ``quality``), centred
on the training models' mean. ``w_m`` is a per-model correction that exists only for models
seen in training. A model the router never saw (any card in any catalog) is scored with the
shared part and its tier: the prompt's learned difficulty mapped onto the model's prior.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.learning.text import TextFeaturizer
from modelmuxer.types import ModelCard, Request

__all__ = ["LinearQualityModel", "QualityPredictor", "model_key", "request_text", "tier"]

FloatArray = npt.NDArray[np.float64]


def model_key(name: str) -> str:
    """A model name normalised for matching data names to catalog ids (``openai/GPT-4`` ->
    ``gpt-4``): lower case, the last path segment."""
    return name.lower().rsplit("/", 1)[-1]


def tier(prior_quality: float) -> float:
    """A model's tier: the logit of its prior quality (clamped to [0.02, 0.98])."""
    p = min(max(prior_quality, 0.02), 0.98)
    return math.log(p / (1.0 - p))


def request_text(request: Request) -> str:
    """The text the predictor reads: the last user message (the last message if none is)."""
    messages = request.messages
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    return messages[-1].text if messages else ""


def _sigmoid(z: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


@dataclass(frozen=True)
class LinearQualityModel:
    """Fitted weights: ``known`` rows (one per training model), ``shared`` and ``tier`` vectors.

    ``known[k]`` already includes the shared and tier parts for model ``models[k]``.
    """

    models: tuple[str, ...]
    known: FloatArray
    shared: FloatArray
    tier_weights: FloatArray
    tier_center: float
    tiers: tuple[float, ...]

    def tier_logits(
        self, idx: npt.NDArray[np.intp], vals: FloatArray, tiers: FloatArray
    ) -> FloatArray:
        """Logits of unseen models with ``tiers`` (uncentred)."""
        base = float(self.shared[idx] @ vals)
        slope = float(self.tier_weights[idx] @ vals)
        result: FloatArray = base + (tiers - self.tier_center) * slope
        return result


#: Candidate sets remembered per predictor (policies can vary the set per request).
_MAX_PLANS = 256


@dataclass(frozen=True)
class _Plan:
    known: list[int]
    rows: list[int]
    unseen: list[int]
    tiers: FloatArray


@dataclass
class QualityPredictor:
    """A :class:`~modelmuxer.strategies.estimates.QualityEstimator` backed by a fitted model.

    ``aliases`` maps catalog ids onto the training data's model names when they differ; ids are
    otherwise matched exactly, then by :func:`model_key` when one training model has that key.
    Unmatched cards are scored through their tier.
    """

    #: learned per prompt: strategies drop their own difficulty heuristics (``hybrid``)
    prompt_aware = True

    featurizer: TextFeaturizer
    model: LinearQualityModel
    aliases: Mapping[str, str] = field(default_factory=dict)
    _exact: dict[str, int] = field(init=False, repr=False)
    _rows: dict[str, int | None] = field(init=False, repr=False)
    _plans: dict[tuple[tuple[str, float], ...], _Plan] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = {m: k for k, m in enumerate(self.model.models)}
        self._rows = {}
        for k, m in enumerate(self.model.models):
            # a key two training models share (openai/gpt-4o, azure/gpt-4o) names neither
            self._rows[model_key(m)] = None if model_key(m) in self._rows else k
        self._plans = {}

    def row_for(self, card_id: str) -> int | None:
        """The training model that ``card_id`` is, or ``None`` (scored by its tier): the model
        of that exact name, else the one model whose :func:`model_key` matches."""
        name = self.aliases.get(card_id, card_id)
        exact = self._exact.get(name)
        return exact if exact is not None else self._rows.get(model_key(name))

    def _plan(self, models: tuple[tuple[str, float], ...]) -> _Plan:
        """Where each model's logit comes from, memoised per candidate set: matching ids and
        computing tiers once, not on every request."""
        plan = self._plans.get(models)
        if plan is None:
            known, rows, unseen = [], [], []
            for i, (model_id, _) in enumerate(models):
                row = self.row_for(model_id)
                if row is None:
                    unseen.append(i)
                else:
                    known.append(i)
                    rows.append(row)
            tiers = np.array([tier(models[i][1]) for i in unseen], dtype=np.float64)
            plan = _Plan(known, rows, unseen, tiers)
            if len(self._plans) < _MAX_PLANS:
                self._plans[models] = plan
        return plan

    def predict(
        self, text: str, features: QueryFeatures, models: Sequence[tuple[str, float]]
    ) -> FloatArray:
        """P(good) for each ``(model id, prior quality)`` on the prompt ``text``."""
        idx, vals = self.featurizer.sparse(text, features)
        plan = self._plan(tuple(models))
        out = np.empty(len(models), dtype=np.float64)
        if plan.known:
            # every known model's logit at once: gathering the prompt's columns is cheap
            out[plan.known] = (self.model.known[:, idx] @ vals)[plan.rows]
        if plan.unseen:
            out[plan.unseen] = self.model.tier_logits(idx, vals, plan.tiers)
        return _sigmoid(out)

    def quality_batch(
        self, features: QueryFeatures, request: Request, cards: Sequence[ModelCard]
    ) -> list[float]:
        """Every card's P(good answer) for ``request``: one feature pass for all of them."""
        probs = self.predict(request_text(request), features, [(c.id, c.quality) for c in cards])
        return probs.tolist()  # type: ignore[no-any-return]

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        """P(good) from the query's analysed features alone (no text: use
        :meth:`quality_batch`, which the router calls)."""
        return float(self.predict("", features, [(card.id, card.quality)])[0])
