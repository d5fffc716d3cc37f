"""Replaying outcome tables through the real strategies: operating points of a router.

For each row the router sees only the prompt: the predictor estimates every model's quality,
a cost model fitted on training data estimates every model's cost from the prompt's length,
and the strategy (``hybrid``, ``cost_optimized``, ``quality_first``, ``cascade``) decides. A
cascade calls its chain in order and stops at the first answer the judge accepts (the data's
own answers are judged). The outcome of a row is the last tried model's score; its cost is the
sum of the tried models' costs. A row's candidates are the models it has an outcome for (files
with different models are combined over the union of their models). Tasks are marked
``prompt_aware`` (the estimates are the learned predictor's), as the router marks them when a
trained router is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.catalog.priors import prior_for
from modelmuxer.errors import ConfigError
from modelmuxer.learning.outcomes import OutcomeTable
from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy, StrategySettings
from modelmuxer.types import ModelCard, Request

__all__ = [
    "KNOBS",
    "OperatingPoint",
    "RowEstimates",
    "grouped_folds",
    "knob_values",
    "replay",
]

FloatArray = npt.NDArray[np.float64]

#: The knob each strategy's sweep turns.
KNOBS = {
    "hybrid": "cost_weight",
    "cost_optimized": "quality_target",
    "quality_first": "none",
    "cascade": "quality_target",
    "utility": "cost_weight",
    "utility_cascade": "cost_weight",
}


@dataclass(frozen=True)
class RowEstimates:
    """What the router knows about each row, prompt-only: ``quality`` and ``cost`` (rows x
    models), and ``judge`` (rows x models: the judge's score of each model's answer, or None)."""

    quality: FloatArray
    cost: FloatArray
    judge: FloatArray | None


@dataclass(frozen=True)
class OperatingPoint:
    """One knob setting's outcome: the models tried per row, mean cost and quality, and the
    share of rows whose answer came from the dearest model (RouteLLM's cost axis)."""

    knob: float
    tried: list[list[int]]
    cost: float
    quality: float
    strong_share: float


def grouped_folds(prompts: Sequence[str], k: int, seed: int = 0) -> npt.NDArray[np.int_]:
    """A fold number per row; equal prompts share a fold (no prompt in train and test).

    :raises ConfigError: fewer than 2 folds, or more folds than distinct prompts.
    """
    if k < 2:
        raise ConfigError("cross-validation needs at least 2 folds")
    ids: dict[str, int] = {}
    groups = np.array([ids.setdefault(p, len(ids)) for p in prompts])
    if len(ids) < k:  # a fold would have nothing to test, its complement everything
        raise ConfigError(f"--cv {k} needs at least {k} distinct prompts; the data has {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    folds: npt.NDArray[np.int_] = order[groups] % k
    return folds


def knob_values(strategy: str, n: int, estimates: RowEstimates | None = None) -> list[float]:
    """``n`` settings of the strategy's knob, from cheapest to best quality.

    For ``utility`` and ``utility_cascade`` with ``estimates`` the settings are spread over the
    rows' own switching points (the knob at which each row's best-quality model gives way to
    its cheapest), so every step of the sweep moves about as many rows; this uses the router's
    estimates only, never the outcomes.
    """
    if strategy not in KNOBS:
        raise ConfigError(f"unknown strategy {strategy!r}; one of {', '.join(KNOBS)}")
    if n < 1:
        raise ConfigError("--sweep needs at least 1 point")
    if strategy == "hybrid":
        return [float(x) for x in np.linspace(1.0, 0.0, n)]
    if strategy in ("utility", "utility_cascade"):
        return _utility_knobs(n, estimates)
    if strategy == "quality_first":
        return [0.0] * n
    return [float(x) for x in np.linspace(0.0, 1.0, n + 2)[1:-1]] if n > 1 else [0.8]


def _switch_points(quality: FloatArray, cost: FloatArray) -> list[float]:
    """The ``k`` at which one row's utility choice changes, from the best-quality model down
    to the cheapest (the breakpoints of the upper envelope of ``q_j - k * cost_j``)."""
    points: list[float] = []
    current = int(np.lexsort((cost, -quality))[0])
    while True:
        cheaper = np.flatnonzero(cost < cost[current])
        if len(cheaper) == 0:
            return points
        ks = (quality[current] - quality[cheaper]) / (cost[current] - cost[cheaper])
        k = float(max(ks.min(), 0.0))
        ties = cheaper[ks <= ks.min() + 1e-12]
        current = int(ties[np.argmin(cost[ties])])
        points.append(k)


def _utility_knobs(n: int, estimates: RowEstimates | None) -> list[float]:
    """Cost weights ``w = k / (1 + k)``: the two ends, and ``k`` at quantiles of the rows'
    switching points (geometric between 30 and 0.003 without estimates)."""
    if n == 1:
        return [0.5]
    if estimates is None:
        ks = np.geomspace(30.0, 0.003, max(n - 2, 0))
    else:
        top = np.maximum(estimates.cost.max(axis=1, keepdims=True), 1e-300)
        norm = estimates.cost / top
        switches = [
            k for q, c in zip(estimates.quality, norm, strict=True) for k in _switch_points(q, c)
        ]
        if not switches:
            return [1.0, *[0.0] * (n - 1)]
        ks = np.quantile(switches, np.linspace(1.0, 0.0, n)[1:-1])
    middle = [float(k / (1.0 + k)) for k in ks]
    return [1.0, *middle, 0.0]


def _cards(models: Sequence[str]) -> list[ModelCard]:
    return [
        ModelCard(
            id=m,
            provider="data",
            input_cost_per_token=0.0,
            output_cost_per_token=0.0,
            context_window=1_000_000,
            max_output_tokens=4096,
            quality=prior_for(m, 0.0, 0.0).quality,
        )
        for m in models
    ]


def _candidates(
    cards: Sequence[ModelCard], estimates: RowEstimates, scores: FloatArray, row: int
) -> tuple[Candidate, ...]:
    """The row's candidates: the models with an outcome on it. Tables combined from files
    with different models have no outcome for the other files' models (NaN): a router
    that picked one could not be scored."""
    known = [j for j in range(len(cards)) if not np.isnan(scores[j])]
    quality, cost = estimates.quality[row], estimates.cost[row]
    return tuple(
        Candidate(cards[j], float(quality[j]), float(cost[j]), float(cost[j]), 1.0) for j in known
    )


def _settings(strategy: str, knob: float) -> StrategySettings:
    if strategy in ("hybrid", "utility", "utility_cascade"):
        return StrategySettings(cost_weight=knob, latency_weight=0.0)
    return StrategySettings(quality_target=knob, cascade_threshold=knob, latency_weight=0.0)


def _run_chain(chain: list[int], judge: FloatArray | None, row: int, threshold: float) -> list[int]:
    tried: list[int] = []
    for j in chain:
        tried.append(j)
        if judge is None or judge[row, j] >= threshold:
            break
    return tried


def replay(
    table: OutcomeTable,
    features: Sequence[QueryFeatures],
    estimates: RowEstimates,
    strategy: Strategy,
    knobs: Sequence[float],
    on_point: Callable[[OperatingPoint], None] | None = None,
) -> list[OperatingPoint]:
    """Run ``strategy`` on every row at each knob setting; the points in knob order."""
    cards = _cards(table.models)
    index = {m: j for j, m in enumerate(table.models)}
    request = Request.model_validate({"messages": [{"role": "user", "content": "-"}]})
    strong = int(np.nanargmax(np.nanmean(table.costs, axis=0)))
    points: list[OperatingPoint] = []
    rows = range(len(table))
    for knob in knobs:
        settings = _settings(strategy.name, knob)
        tried_all: list[list[int]] = []
        for i in rows:
            candidates = _candidates(cards, estimates, table.scores[i], i)
            task = RoutingTask(
                request, features[i], candidates, settings=settings, prompt_aware=True
            )
            decision = strategy.select(task)
            chain = [index[m] for m in decision.models]
            threshold = decision.threshold if decision.threshold is not None else knob
            tried_all.append(_run_chain(chain, estimates.judge, i, threshold))
        point = _summarise(table, knob, tried_all, strong)
        points.append(point)
        if on_point is not None:
            on_point(point)
    return points


def _summarise(
    table: OutcomeTable, knob: float, tried: list[list[int]], strong: int
) -> OperatingPoint:
    costs = [float(np.nansum(table.costs[i, t])) for i, t in enumerate(tried)]
    quality = [float(table.scores[i, t[-1]]) for i, t in enumerate(tried)]
    share = sum(1 for t in tried if t[-1] == strong) / max(len(tried), 1)
    return OperatingPoint(
        knob=knob,
        tried=tried,
        cost=float(np.mean(costs)),
        quality=float(np.mean(quality)),
        strong_share=share,
    )
