"""Fitting the quality predictor with scikit-learn (imported here only, never at routing time).

The models are fitted *jointly*: each (prompt, model) outcome is one row whose features are the
prompt's vector ``x`` three times over — shared, scaled by the model's tier ``z_m``, and in the
model's own block (the "frustratingly easy" domain-adaptation design). One L2-regularised
logistic regression learns all blocks at once, so a model with few outcomes leans on the
shared and tier parts, and an unseen model is scored by them alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis import analyze
from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.catalog.priors import prior_for
from modelmuxer.errors import ConfigError
from modelmuxer.learning._sklearn import logistic_regression
from modelmuxer.learning._sklearn import sparse as sp
from modelmuxer.learning.outcomes import OutcomeTable
from modelmuxer.learning.predictor import LinearQualityModel, QualityPredictor, tier
from modelmuxer.learning.text import TextFeaturizer
from modelmuxer.types import Request

__all__ = ["analyze_prompts", "featurize", "fit_predictor", "model_tiers"]

FloatArray = npt.NDArray[np.float64]


def analyze_prompts(prompts: Sequence[str]) -> list[QueryFeatures]:
    """Query analysis of each prompt sent as one user message (what the router sees)."""
    return [
        analyze(Request.model_validate({"messages": [{"role": "user", "content": p}]}))
        for p in prompts
    ]


def featurize(
    featurizer: TextFeaturizer, prompts: Sequence[str], features: Sequence[QueryFeatures]
) -> sp.csr_matrix:
    """The prompts' feature vectors as a sparse matrix (one row per prompt)."""
    indptr = [0]
    indices: list[npt.NDArray[np.intp]] = []
    data: list[FloatArray] = []
    for text, qf in zip(prompts, features, strict=True):
        idx, vals = featurizer.sparse(text, qf)
        indices.append(idx)
        data.append(vals)
        indptr.append(indptr[-1] + len(idx))
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)),
        shape=(len(prompts), featurizer.width),
    )


def model_tiers(models: Sequence[str], priors: Mapping[str, float] | None = None) -> list[float]:
    """Each training model's tier from its prior quality (given, or the catalog's priors)."""
    priors = priors or {}
    return [tier(priors[m] if m in priors else prior_for(m, 0.0, 0.0).quality) for m in models]


def _design(
    x: sp.csr_matrix,
    scores: FloatArray,
    tiers: Sequence[float],
    center: float,
    block_scale: float = 1.0,
) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
    """Stacked rows for every known (prompt, model) outcome; fractional scores become two
    weighted rows (label 1 with weight s, label 0 with weight 1 - s)."""
    n_models = scores.shape[1]
    blocks, labels, weights = [], [], []
    for m in range(n_models):
        known = ~np.isnan(scores[:, m])
        xm = x[known]
        z = tiers[m] - center
        own = [None] * n_models
        own[m] = xm * block_scale
        row = sp.hstack(
            [xm, xm * z, *(b if b is not None else sp.csr_matrix(xm.shape) for b in own)],
            format="csr",
        )
        s = scores[known, m]
        for label, weight in ((1.0, s), (0.0, 1.0 - s)):
            keep = weight > 0.0
            blocks.append(row[keep])
            labels.append(np.full(int(keep.sum()), label))
            weights.append(weight[keep])
    return sp.vstack(blocks, format="csr"), np.concatenate(labels), np.concatenate(weights)


def _require_both_classes(labels: FloatArray) -> None:
    """:raises ConfigError: every outcome is good, or every one bad (nothing to separate)."""
    if len(labels) and labels.min() == labels.max():
        which = "good (score 1)" if labels[0] else "bad (score 0)"
        raise ConfigError(
            f"every outcome in the data is {which}: the predictor needs good and bad outcomes "
            "to learn from; add outcomes (or feedback) with other scores"
        )


def fit_predictor(
    table: OutcomeTable,
    *,
    c: float = 0.3,
    max_tokens: int = 4000,
    priors: Mapping[str, float] | None = None,
    features: Sequence[QueryFeatures] | None = None,
    block_scale: float = 1.0,
    seed: int = 0,
) -> QualityPredictor:
    """A :class:`QualityPredictor` fitted on ``table``.

    ``c`` is the inverse L2 strength; ``block_scale`` scales the per-model blocks (above 1 they
    are regularised less than the shared and tier parts, below 1 more). ``seed`` fixes the
    solver's shuffling, so the same data and seed give the same weights.

    :raises ConfigError: every outcome in ``table`` is good, or every one bad.
    """

    featurizer = TextFeaturizer.fit(table.prompts, max_tokens=max_tokens)
    qf = features if features is not None else analyze_prompts(table.prompts)
    x = featurize(featurizer, table.prompts, qf)
    tiers = model_tiers(table.models, priors)
    center = float(np.mean(tiers))
    design, labels, weights = _design(x, table.scores, tiers, center, block_scale)
    _require_both_classes(labels)
    fit = logistic_regression(c, seed)
    fit.fit(design, labels, sample_weight=weights)
    coef = fit.coef_[0]
    width = featurizer.width
    shared, tier_w = coef[:width], coef[width : 2 * width]
    known = np.stack(
        [
            shared
            + (tiers[m] - center) * tier_w
            + block_scale * coef[(2 + m) * width : (3 + m) * width]
            for m in range(len(table.models))
        ]
    )
    model = LinearQualityModel(
        models=table.models,
        known=known,
        shared=shared.copy(),
        tier_weights=tier_w.copy(),
        tier_center=center,
        tiers=tuple(tiers),
    )
    return QualityPredictor(featurizer, model)
