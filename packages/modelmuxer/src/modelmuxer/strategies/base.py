"""The strategy contract, and what a strategy receives.

A strategy turns a :class:`RoutingTask` (the request, its features and the *eligible* candidates
with their estimates) into a :class:`~modelmuxer.types.Decision`. Hard constraints (context
window, capabilities, allow / deny lists, cost ceiling, policy plugins) are applied before a
strategy runs, so a strategy only ever sees models that may answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, runtime_checkable

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.types import CandidateEstimate, Decision, ModelCard, Request
from modelmuxer.types._trusted import built

__all__ = ["Candidate", "RoutingTask", "Strategy", "StrategySettings"]


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """The knobs strategies read. Per-request routing options override the muxer's values.

    - ``quality_target``: the estimated quality ``cost_optimized`` must reach (0..1).
    - ``cost_weight``: ``hybrid``'s single trade-off knob: 0 ignores cost, 1 strongly favours the
      cheapest; the default 0.35 saves most on easy queries and pays for hard ones.
    - ``latency_weight``: how much ``hybrid`` penalises slow models.
    - ``cascade_threshold``: the judge score a cascade answer needs to be accepted.
    - ``cascade_max_models``: the longest chain ``cascade`` builds.
    """

    quality_target: float = 0.8
    cost_weight: float = 0.35
    latency_weight: float = 0.05
    cascade_threshold: float = 0.5
    cascade_max_models: int = 3

    def for_request(self, request: Request) -> StrategySettings:
        """These settings with the request's own knobs (``routing.quality_target`` /
        ``routing.cost_weight``) applied: what ``RoutingTask.settings`` holds."""
        routing = request.routing
        if routing.quality_target is None and routing.cost_weight is None:
            return self
        return replace(
            self,
            quality_target=self.quality_target
            if routing.quality_target is None
            else routing.quality_target,
            cost_weight=self.cost_weight if routing.cost_weight is None else routing.cost_weight,
        )


@dataclass(slots=True, init=False)
class Candidate:
    """An eligible model with its estimates for this request.

    Treat it as read-only. It is a plain slotted dataclass rather than a frozen one because a
    frozen dataclass costs ~2 µs more to build, and one is built per candidate per request.
    """

    card: ModelCard
    quality: float
    cost_usd: float
    worst_cost_usd: float
    latency_s: float
    #: the card's id, copied once: strategies read it many times per request
    model: str = field(init=False)

    def __init__(
        self,
        card: ModelCard,
        quality: float,
        cost_usd: float,
        worst_cost_usd: float,
        latency_s: float,
    ) -> None:
        # Written out rather than generated with a ``__post_init__``: one call less per candidate.
        self.card = card
        self.quality = quality
        self.cost_usd = cost_usd
        self.worst_cost_usd = worst_cost_usd
        self.latency_s = latency_s
        self.model = card.id


@dataclass(slots=True)
class RoutingTask:
    """Everything a strategy may look at. Treat it as read-only (see :class:`Candidate`).

    ``settings`` already include the request's own knobs (:meth:`StrategySettings.for_request`):
    strategies read knobs from ``settings`` only. ``prompt_aware`` is ``True`` when the
    candidates' qualities come from an estimator that learned them per prompt (a trained
    router; see :func:`~modelmuxer.strategies.estimates.is_prompt_aware`): they already
    account for the query's difficulty, so a strategy must not discount for it again.
    """

    request: Request
    features: QueryFeatures
    candidates: tuple[Candidate, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)
    settings: StrategySettings = StrategySettings()
    prompt_aware: bool = False

    def estimates(self, scores: Mapping[str, float] | None = None) -> list[CandidateEstimate]:
        """Every candidate, eligible or not, as the decision reports them (with optional scores)."""
        validate = CandidateEstimate.model_validate
        return [validate(row) for row in self._estimate_rows(scores)]

    def _estimate_rows(self, scores: Mapping[str, float] | None) -> list[dict[str, object]]:
        if scores:
            score = scores.get
            rows: list[dict[str, object]] = [
                {
                    "model": c.model,
                    "quality": c.quality,
                    "cost_usd": c.cost_usd,
                    "latency_s": c.latency_s,
                    "score": score(c.model),
                }
                for c in self.candidates
            ]
        else:
            rows = [
                {
                    "model": c.model,
                    "quality": c.quality,
                    "cost_usd": c.cost_usd,
                    "latency_s": c.latency_s,
                    "score": None,
                }
                for c in self.candidates
            ]
        if self.excluded:
            rows.extend(
                {"model": m, "quality": 0.0, "cost_usd": 0.0, "latency_s": 0.0, "excluded": why}
                for m, why in self.excluded.items()
            )
        return rows

    def decide(
        self,
        strategy: str,
        models: Iterable[str],
        reason: str,
        *,
        scores: Mapping[str, float] | None = None,
        threshold: float | None = None,
    ) -> Decision:
        """Build the :class:`Decision` for ``models`` with every candidate's estimates."""
        listed = models if type(models) is list else list(models)
        rows = self._estimate_rows(scores)
        features = self.features._asdict()
        decision = _typed_decision(strategy, listed, rows, reason, threshold, features)
        if decision is not None:
            return decision
        # Something not of its declared type (an int quality from a plugin's estimator...):
        # validated, in one pass over the nested structure.
        data = {
            "strategy": strategy,
            "models": listed,
            "candidates": rows,
            "reason": reason,
            "threshold": threshold,
            "features": features,
        }
        return Decision.model_validate(data)


_DECISION_FIELDS: Final = frozenset(Decision.model_fields)


def _typed_decision(
    strategy: object,
    models: list[Any],
    rows: list[dict[str, object]],
    reason: object,
    threshold: object,
    features: dict[str, object],
) -> Decision | None:
    """The decision built from values already of their declared types (what validation would
    build: tests/core/test_plain_requests.py compares both), or ``None`` when any is not: then
    the caller validates. Runs on every request; the strategies' numbers are floats."""
    if type(strategy) is not str or type(reason) is not str or not reason or not models:
        return None
    if threshold is not None and type(threshold) is not float:
        return None
    for model in models:
        if type(model) is not str:
            return None
    estimates = []
    for row in rows:
        model = row["model"]
        quality = row["quality"]
        cost = row["cost_usd"]
        latency = row["latency_s"]
        score = row.get("score")
        excluded = row.get("excluded")
        if (
            type(model) is not str
            or type(quality) is not float
            or type(cost) is not float
            or type(latency) is not float
            or (score is not None and type(score) is not float)
            or (excluded is not None and type(excluded) is not str)
        ):
            return None
        fields = {
            "model": model,
            "quality": quality,
            "cost_usd": cost,
            "latency_s": latency,
            "score": score,
            "excluded": excluded,
        }
        estimates.append(built(CandidateEstimate, fields, set(row)))
    fields = {
        "strategy": strategy,
        "models": list(models),  # a copy, as validation makes: the caller's list is not kept
        "candidates": estimates,
        "reason": reason,
        "threshold": threshold,
        "features": features,
    }
    return built(Decision, fields, set(_DECISION_FIELDS))


@runtime_checkable
class Strategy(Protocol):
    """Chooses the model(s) for a request.

    Must be deterministic (equal tasks give equal decisions), choose only among
    ``task.candidates`` (never empty when called), and explain itself in ``Decision.reason``.
    """

    name: str
    description: str

    def select(self, task: RoutingTask) -> Decision:
        """Return the decision for ``task``."""
        ...
