"""Routing: from a request to a :class:`Decision`, without calling any model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    CardProfile,
    CardProfiles,
    QualityEstimator,
    card_profile,
    estimate_profiles,
    is_prompt_aware,
)
from modelmuxer.types import Decision

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
        # The hook callers, looked up once: pluggy keeps one per hook for the manager's life.
        self._filter_hook = pm.hook.modelmuxer_filter_candidates
        self._select_hook = pm.hook.modelmuxer_select
        self._decisions = decisions
        self._strategies = strategies
        self._catalog = catalog
        self._profiles = CardProfiles()
        self._estimator = estimator
        self._prompt_aware = is_prompt_aware(estimator)  # fixed for the router's life
        self._settings = settings

    def task(self, ctx: RequestContext) -> RoutingTask:
        """The routing task for ``ctx.request``: features, eligible candidates, exclusions."""
        return self._task(ctx)[0]

    def _task(self, ctx: RequestContext) -> tuple[RoutingTask, frozenset[str] | None]:
        """:meth:`task`, and its candidates' ids when they are the whole catalog (``None``
        otherwise): then they are known without collecting them."""
        request = ctx.request
        features = analyze(request)
        ctx.features = features
        excluded: dict[str, str] = {}
        eligible: Sequence[CardProfile]
        every: frozenset[str] | None = None
        routing = request.routing
        pinned = routing.model
        if pinned:
            profiles: tuple[CardProfile, ...] = (card_profile(self._catalog.get(pinned)),)
            smallest_window = profiles[0][3]
            ids = None
        else:
            profiles, smallest_window, ids = self._profiles.of(self._catalog.cards())
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
            if prompt_tokens + expected <= smallest_window:
                # Fits every window: a card's output budget is at most ``expected``.
                eligible = profiles
                every = ids
            else:
                eligible = kept = []
                for profile in profiles:
                    limit = profile[2]  # max_output_tokens
                    budget = expected if expected <= limit else limit
                    if prompt_tokens + budget > profile[3]:  # context_window
                        excluded[profile[1]] = exclusion_reason(features, request, profile[0]) or ""
                    else:
                        kept.append(profile)
        else:
            eligible = kept = []
            for profile in profiles:
                why = exclusion_reason(features, request, profile[0])
                if why is None:
                    kept.append(profile)
                else:
                    excluded[profile[1]] = why
        if eligible and self._filter_hook.get_hookimpls():
            eligible = self._apply_policies(ctx, eligible, excluded)
            every = None
        if not eligible:
            raise NoEligibleModel(excluded)
        task = RoutingTask(
            request,
            features,
            estimate_profiles(features, request, eligible, self._estimator),
            excluded,
            self._settings.for_request(request),
            self._prompt_aware,
        )
        return task, every

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
        task, every = self._task(ctx)
        if ctx.request.routing.model:
            return self._pinned(task)
        candidates = task.candidates
        hook = self._select_hook
        if len(hook.get_hookimpls()) == 1:
            # only the built-in dispatcher: call the strategy directly (saves the hook's overhead)
            decision = self._strategies.get(ctx.strategy).select(task)
        else:
            decision = hook(ctx=ctx, task=task)
        if not isinstance(decision, Decision):
            raise PluginError(f"modelmuxer_select returned {decision!r}, not a Decision")
        # (A task is read-only, but a strategy that swapped its candidates is checked on them.)
        allowed: set[str] | frozenset[str] = (
            every
            if every is not None and task.candidates is candidates
            else {c.model for c in task.candidates}
        )
        chosen = decision.models
        if not allowed.issuperset(chosen):
            stray = [m for m in chosen if m not in allowed]
            raise PluginError(
                f"strategy/plugin chose {stray} which are not eligible candidates "
                f"({sorted(allowed)})"
            )
        notes = ctx.state.get("decision_notes")
        if notes:  # plugins' notes (e.g. "budget org:acme/day: 20% left, ...") join the reason
            decision = decision.model_copy(update={"reason": "; ".join([decision.reason, *notes])})
        return decision

    def _apply_policies(
        self, ctx: RequestContext, eligible: Sequence[CardProfile], excluded: dict[str, str]
    ) -> list[CardProfile]:
        cards = [profile[0] for profile in eligible]
        ids = {card.id for card in cards}
        for result in self._filter_hook(ctx=ctx, candidates=cards):
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
        # From the list the policies saw (it is theirs to read, but read it as they left it).
        profiles = {profile[1]: profile for profile in eligible}
        kept = []
        for card in cards:
            if card.id not in excluded:
                profile = profiles.get(card.id)
                kept.append(
                    profile if profile is not None and profile[0] is card else card_profile(card)
                )
        return kept

    @staticmethod
    def _pinned(task: RoutingTask) -> Decision:
        model = task.candidates[0].model
        return task.decide("pinned", [model], f"{model}: pinned by the caller (no routing)")
