"""Routing: from a request to a :class:`Decision`, without calling any model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

from modelmuxer.analysis import analyze
from modelmuxer.catalog import Catalog
from modelmuxer.context import RequestContext
from modelmuxer.errors import NoEligibleModel, PluginError
from modelmuxer.plugins import StrategyRegistry
from modelmuxer.strategies.base import RoutingTask, StrategySettings
from modelmuxer.strategies.constraints import exclusion_reason
from modelmuxer.strategies.estimates import (
    QualityEstimator,
    estimate_candidates,
    is_prompt_aware,
)
from modelmuxer.types import Decision, ModelCard

if TYPE_CHECKING:
    from modelmuxer.cache.decisions import DecisionCache

__all__ = ["Router"]


class Router:
    """Applies the hard constraints and policy plugins, estimates, and asks the strategy."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        catalog: Catalog,
        estimator: QualityEstimator,
        settings: StrategySettings,
        strategies: StrategyRegistry,
        decisions: DecisionCache | None = None,
    ) -> None:
        self._pm = pm
        self._decisions = decisions
        self._strategies = strategies
        self._catalog = catalog
        self._estimator = estimator
        self._prompt_aware = is_prompt_aware(estimator)  # fixed for the router's life
        self._settings = settings

    def task(self, ctx: RequestContext) -> RoutingTask:
        """The routing task for ``ctx.request``: features, eligible candidates, exclusions."""
        request = ctx.request
        features = analyze(request)
        ctx.features = features
        excluded: dict[str, str] = {}
        eligible: list[ModelCard] = []
        pinned = request.routing.model
        cards = (self._catalog.get(pinned),) if pinned else self._catalog.cards()
        routing = request.routing
        if (
            routing.allow is None
            and not routing.deny
            and routing.max_cost_usd is None
            and request.params.max_tokens is None
            and not (features.needs_tools or features.has_images or features.needs_json)
        ):
            # The common request: of the hard constraints only the context window applies.
            # Checked inline (as exclusion_reason does), which spares a call per candidate;
            # exclusion_reason still words the reason for a card that does not fit.
            prompt_tokens = features.prompt_tokens
            expected = features.expected_output_tokens
            for card in cards:
                limit = card.max_output_tokens
                budget = expected if expected <= limit else limit
                if prompt_tokens + budget > card.context_window:
                    excluded[card.id] = exclusion_reason(features, request, card) or ""
                else:
                    eligible.append(card)
        else:
            for card in cards:
                why = exclusion_reason(features, request, card)
                if why is None:
                    eligible.append(card)
                else:
                    excluded[card.id] = why
        if eligible and self._pm.hook.modelmuxer_filter_candidates.get_hookimpls():
            eligible = self._apply_policies(ctx, eligible, excluded)
        if not eligible:
            raise NoEligibleModel(excluded)
        return RoutingTask(
            request=request,
            features=features,
            candidates=estimate_candidates(features, request, eligible, self._estimator),
            excluded=excluded,
            settings=self._settings.for_request(request),
            prompt_aware=self._prompt_aware,
        )

    def route(self, ctx: RequestContext) -> Decision:
        """The decision for ``ctx.request``; :class:`NoEligibleModel` when none may answer.

        With a decision cache, a repeated request reuses its decision (and query features).
        """
        if self._decisions is None:
            return self._route(ctx)
        decision = self._decisions.get(ctx)
        if decision is None:
            decision = self._route(ctx)
            self._decisions.put(ctx, decision)
        return decision

    def _route(self, ctx: RequestContext) -> Decision:
        task = self.task(ctx)
        if ctx.request.routing.model:
            return self._pinned(task)
        hook = self._pm.hook.modelmuxer_select
        if len(hook.get_hookimpls()) == 1:
            # only the built-in dispatcher: call the strategy directly (saves the hook's overhead)
            decision = self._strategies.get(ctx.strategy).select(task)
        else:
            decision = hook(ctx=ctx, task=task)
        if not isinstance(decision, Decision):
            raise PluginError(f"modelmuxer_select returned {decision!r}, not a Decision")
        allowed = {c.model for c in task.candidates}
        stray = [m for m in decision.models if m not in allowed]
        if stray:
            raise PluginError(
                f"strategy/plugin chose {stray} which are not eligible candidates "
                f"({sorted(allowed)})"
            )
        notes = ctx.state.get("decision_notes")
        if notes:  # plugins' notes (e.g. "budget org:acme/day: 20% left, ...") join the reason
            decision = decision.model_copy(update={"reason": "; ".join([decision.reason, *notes])})
        return decision

    def _apply_policies(
        self, ctx: RequestContext, eligible: list[ModelCard], excluded: dict[str, str]
    ) -> list[ModelCard]:
        ids = {card.id for card in eligible}
        for result in self._pm.hook.modelmuxer_filter_candidates(ctx=ctx, candidates=eligible):
            if result is None:
                continue
            if not isinstance(result, Mapping):
                raise PluginError(
                    f"modelmuxer_filter_candidates returned {result!r}; "
                    "a mapping {model_id: reason} or None is required"
                )
            for model, why in result.items():
                if model in ids:  # a policy may name models this muxer does not have
                    excluded.setdefault(model, str(why))
        return [card for card in eligible if card.id not in excluded]

    @staticmethod
    def _pinned(task: RoutingTask) -> Decision:
        model = task.candidates[0].model
        return task.decide("pinned", [model], f"{model}: pinned by the caller (no routing)")
