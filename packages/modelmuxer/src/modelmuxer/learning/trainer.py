"""Training a whole router file's content, and estimating rows with it (in-sample or
cross-validated): what ``modelmuxer train`` and ``modelmuxer eval`` run."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.catalog.priors import prior_for
from modelmuxer.errors import ConfigError
from modelmuxer.learning.artifact import LearnedRouter
from modelmuxer.learning.evaluation import RowEstimates, grouped_folds
from modelmuxer.learning.judge_training import fit_judge, structural_of
from modelmuxer.learning.outcomes import OutcomeTable
from modelmuxer.learning.predictor import model_key
from modelmuxer.learning.training import fit_predictor, model_tiers

__all__ = ["TrainingOptions", "cross_validated_estimates", "estimate_rows", "train_router"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrainingOptions:
    """Hyper-parameters: ``c`` (inverse L2 strength of the predictor), ``judge_c``,
    ``max_tokens`` (vocabulary size), ``judge`` (train the answer judge when answers exist),
    ``seed`` (the solvers' shuffling: the same data and seed give the same router)."""

    c: float = 0.3
    judge_c: float = 1.0
    max_tokens: int = 4000
    judge: bool = True
    block_scale: float = 1.0
    priors: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0


def _cost_model(
    table: OutcomeTable, features: Sequence[QueryFeatures]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per model: USD per prompt token and per call, least squares on the data's costs."""
    tokens = np.array([f.prompt_tokens for f in features], dtype=np.float64)
    per_token: dict[str, float] = {}
    per_call: dict[str, float] = {}
    for j, m in enumerate(table.models):
        known = ~np.isnan(table.costs[:, j])
        if known.sum() < 2:
            continue
        a = np.vstack([tokens[known], np.ones(int(known.sum()))]).T
        (slope, intercept), *_ = np.linalg.lstsq(a, table.costs[known, j], rcond=None)
        per_token[m] = max(float(slope), 0.0)
        per_call[m] = max(float(intercept), 0.0)
    return per_token, per_call


def _trained_at() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention), so
    training twice on the same data can write the same file."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(int(epoch), UTC)
    except (ValueError, OverflowError, OSError):
        raise ConfigError(
            f"SOURCE_DATE_EPOCH={epoch!r}: expected whole seconds since 1970-01-01 UTC"
        ) from None


def train_router(
    table: OutcomeTable,
    features: Sequence[QueryFeatures],
    options: TrainingOptions = TrainingOptions(),
    provenance: Mapping[str, Any] | None = None,
) -> LearnedRouter:
    """Fit the predictor (and the judge, when the data has answers) on ``table``."""
    predictor = fit_predictor(
        table,
        c=options.c,
        max_tokens=options.max_tokens,
        priors=options.priors,
        features=features,
        block_scale=options.block_scale,
        seed=options.seed,
    )
    judge = None
    if options.judge:
        judge = fit_judge(
            table,
            features,
            predictor.featurizer,
            model_tiers(table.models, options.priors),
            c=options.judge_c,
            seed=options.seed,
        )
    per_token, per_call = _cost_model(table, features)
    info = {
        "trained_at": _trained_at().isoformat(timespec="seconds"),
        "rows": len(table),
        "kind": table.kind,
        "options": {
            "c": options.c,
            "judge_c": options.judge_c,
            "max_tokens": options.max_tokens,
            "seed": options.seed,
        },
        **dict(provenance or {}),
    }
    return LearnedRouter(predictor, judge, per_token, per_call, info)


def _prior(model: str, priors: Mapping[str, float]) -> float:
    return priors.get(model, prior_for(model, 0.0, 0.0).quality)


def _costs(router: LearnedRouter, table: OutcomeTable, tokens: FloatArray) -> FloatArray:
    by_key = {model_key(m): m for m in router.cost_per_token}
    columns = []
    for j, m in enumerate(table.models):
        name = m if m in router.cost_per_token else by_key.get(model_key(m))
        if name is not None:  # its own name first, then the name matched as the predictor does
            columns.append(router.cost_per_token[name] * tokens + router.cost_per_call[name])
        else:  # a model the router has no costs for: the data's own mean cost
            columns.append(np.full(len(tokens), float(np.nanmean(table.costs[:, j]))))
    return np.stack(columns, axis=1)


def estimate_rows(
    router: LearnedRouter,
    table: OutcomeTable,
    features: Sequence[QueryFeatures],
    priors: Mapping[str, float] | None = None,
    rows: Sequence[int] | None = None,
) -> RowEstimates:
    """The router's prompt-only estimates (and judge scores of the data's answers) for ``rows``."""
    priors = priors or {}
    idx = list(range(len(table))) if rows is None else list(rows)
    models = [(m, _prior(m, priors)) for m in table.models]
    quality = np.stack(
        [router.predictor.predict(table.prompts[i], features[i], models) for i in idx]
    )
    tokens = np.array([features[i].prompt_tokens for i in idx], dtype=np.float64)
    judge = None
    if router.judge is not None and any(a is not None for i in idx for a in table.answers[i]):
        judge = np.zeros((len(idx), len(table.models)))
        for r, i in enumerate(idx):
            for j, (_m, prior) in enumerate(models):
                answer = table.answers[i][j] or ""
                judge[r, j] = router.judge.score(
                    table.prompts[i],
                    features[i],
                    answer,
                    structural=structural_of(answer),
                    prior_quality=prior,
                )
    return RowEstimates(quality=quality, cost=_costs(router, table, tokens), judge=judge)


def cross_validated_estimates(
    table: OutcomeTable,
    features: Sequence[QueryFeatures],
    folds: int,
    options: TrainingOptions = TrainingOptions(),
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> RowEstimates:
    """Out-of-fold estimates: each row estimated by a router trained without its prompt."""
    fold_of = grouped_folds(table.prompts, folds, seed)
    n, m = len(table), len(table.models)
    quality, cost = np.zeros((n, m)), np.zeros((n, m))
    judge: FloatArray | None = None
    for k in range(folds):
        train = np.flatnonzero(fold_of != k)
        test = np.flatnonzero(fold_of == k)
        router = train_router(table.subset(train), [features[int(i)] for i in train], options)
        est = estimate_rows(router, table, features, options.priors, test.tolist())
        quality[test], cost[test] = est.quality, est.cost
        if est.judge is not None:
            judge = np.zeros((n, m)) if judge is None else judge
            judge[test] = est.judge
        if progress is not None:
            progress(k)
    return RowEstimates(quality=quality, cost=cost, judge=judge)
