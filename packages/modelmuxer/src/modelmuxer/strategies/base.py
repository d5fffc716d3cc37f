"""The strategy contract, and what a strategy receives.

A strategy turns a :class:`RoutingTask` (the request, its features and the *eligible* candidates
with their estimates) into a :class:`~modelmuxer.types.Decision`. Hard constraints (context
window, capabilities, allow / deny lists, cost ceiling, policy plugins) are applied before a
strategy runs, so a strategy only ever sees models that may answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.types import CandidateEstimate, Decision, ModelCard, Request

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
        # One validation of the nested structure, in pydantic-core: cheaper than building each
        # CandidateEstimate in Python (measured: 2 µs slower at 10 candidates, 25 at 100, no
        # gain at 2 or 3), and this runs on every request.
        data = {
            "strategy": strategy,
            # validation copies a list (the caller's is not kept): only other iterables need one
            "models": models if type(models) is list else list(models),
            "candidates": self._estimate_rows(scores),
            "reason": reason,
            "threshold": threshold,
            "features": self.features._asdict(),
        }
        if Decision.__pydantic_complete__:
            # What ``model_validate`` calls, without passing it seven keywords. (Until the
            # model's first use builds it, its validator is a stand-in: that first use goes
            # through ``model_validate``.)
            decision: Decision = Decision.__pydantic_validator__.validate_python(data)
            return decision
        return Decision.model_validate(data)


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
