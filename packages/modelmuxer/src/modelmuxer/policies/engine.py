"""The policy engine: enforces :class:`~modelmuxer.policies.PolicySettings` in candidate
filtering (``modelmuxer_filter_candidates``), so a denial names its rule in the decision and in
:class:`~modelmuxer.errors.NoEligibleModel`."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from modelmuxer.analysis import analyze
from modelmuxer.events import emit
from modelmuxer.hookspecs import hookimpl
from modelmuxer.policies.settings import PolicyRule, PolicySettings
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import Identity, ModelCard

if TYPE_CHECKING:
    import pluggy

    from modelmuxer.analysis.features import QueryFeatures
    from modelmuxer.context import RequestContext

__all__ = ["PII_COUNTS_KEY", "RULES_KEY", "PolicyEngine", "has_pii"]

_log = logging.getLogger("modelmuxer.policies")

#: ``ctx.state`` key where PII redaction leaves its counts (kind -> distinct values found)
PII_COUNTS_KEY = "pii_counts"
#: ``ctx.state`` key where the engine leaves the names of the rules that applied (the audit
#: log records them)
RULES_KEY = "policy_rules"


def has_pii(ctx: RequestContext, pii_tag: str = "pii") -> bool:
    """Whether the request contains PII: redaction counted some, or it carries ``pii_tag``."""
    counts = ctx.state.get(PII_COUNTS_KEY)
    if isinstance(counts, dict) and any(isinstance(n, int) and n > 0 for n in counts.values()):
        return True
    return pii_tag in ctx.request.tags


def _usd(amount: float) -> str:
    """``amount`` in dollars to 1e-9, without trailing zeros (``0.05``, ``0.0000001``)."""
    text = f"{amount:.9f}".rstrip("0")
    return text + "00" if text.endswith(".") else text


def unmatched(settings: PolicySettings, cards: Iterable[ModelCard]) -> list[str]:
    """What the rules name that none of ``cards`` is: a model pattern no id matches, a
    provider no card has. A deny entry like that denies nothing (model ids are matched whole:
    ``gpt-4o`` is not ``openai/gpt-4o``), which is why :class:`PolicyEngine` warns of them."""
    listed = list(cards)
    ids = [card.id for card in listed]
    providers = {card.provider.lower() for card in listed}
    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    found: list[str] = []
    for rule in settings.rules:
        for field in ("deny_models", "allow_models"):
            for pattern in getattr(rule, field) or ():
                if not any(fnmatch.fnmatchcase(i, pattern) for i in ids):
                    found.append(
                        f"policy {rule.name!r}: {field} pattern {pattern!r} matches none of this "
                        f"muxer's models ({shown}); patterns are matched against whole model "
                        "ids, e.g. '*gpt-4o' or 'openai/*'"
                    )
        for field in ("deny_providers", "allow_providers"):
            for provider in getattr(rule, field) or ():
                if provider.lower() not in providers:
                    found.append(
                        f"policy {rule.name!r}: {field} {provider!r} is the provider of none of "
                        f"this muxer's models (providers: {', '.join(sorted(providers))})"
                    )
    return found


def _who(identity: Identity) -> str:
    fields = identity.model_dump(exclude_none=True)
    return ", ".join(f"{k}={v}" for k, v in fields.items()) or "no identity"


class PolicyEngine:
    """Excludes the candidates the applying rules forbid, naming the rule.

    Registered by a :class:`~modelmuxer.Muxer` when ``settings.policies`` is active; to add it
    by hand::

        muxer.plugins.register(PolicyEngine(PolicySettings(rules=[...]), muxer.plugins))

    ``pm`` (optional) receives a ``policy.denied`` event per excluded model. Rules that cap the
    cost also lower the request's ``routing.max_cost_usd``, so a cascade stops escalating
    before the request as a whole would exceed the cap.
    """

    def __init__(
        self,
        settings: PolicySettings,
        pm: pluggy.PluginManager | None = None,
        *,
        cards: Iterable[ModelCard] | None = None,
    ) -> None:
        self.settings = settings
        self._pm = pm
        if cards is not None:  # the muxer's models: warn of rules that name none of them
            for warning in unmatched(settings, cards):
                _log.warning("%s", warning)

    def applying(self, ctx: RequestContext) -> list[PolicyRule]:
        """The rules that apply to ``ctx.request``, in order."""
        request = ctx.request
        pii = has_pii(ctx, self.settings.pii_tag)
        return [r for r in self.settings.rules if r.applies(request.identity, request.tags, pii)]

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> dict[str, str] | None:
        """``{model: "policy '<rule>': <why>"}`` for every candidate an applying rule forbids."""
        rules = self.applying(ctx)
        ctx.state[RULES_KEY] = [rule.name for rule in rules]
        if not rules:
            if self.settings.default == "allow":
                return None
            closed = (
                f"policy 'default': no rule applies to this request "
                f"({_who(ctx.request.identity)}) and the default is deny"
            )
            self._announce(ctx, {card.id: "default" for card in candidates})
            return {card.id: closed for card in candidates}
        features = ctx.features or analyze(ctx.request)
        excluded: dict[str, str] = {}
        named: dict[str, str] = {}
        for card in candidates:
            for rule in rules:
                refusal = self._refusal(rule, card, features, ctx)
                if refusal is not None:
                    excluded[card.id] = f"policy {rule.name!r}: {refusal}"
                    named[card.id] = rule.name
                    break
        self._cap_the_request(ctx, rules)
        self._announce(ctx, named)
        return excluded or None

    def _refusal(
        self, rule: PolicyRule, card: ModelCard, features: QueryFeatures, ctx: RequestContext
    ) -> str | None:
        why = rule.refusal(card, self.settings.tier_of(card))
        if why is not None or rule.max_cost_usd is None:
            return why
        worst = worst_case_cost(features, ctx.request, card)
        if worst > rule.max_cost_usd:
            return (
                f"worst-case cost ${_usd(worst)} exceeds the ${_usd(rule.max_cost_usd)} a "
                "request may cost (a lower max_tokens lowers the worst case)"
            )
        return None

    @staticmethod
    def _cap_the_request(ctx: RequestContext, rules: Sequence[PolicyRule]) -> None:
        caps = [rule.max_cost_usd for rule in rules if rule.max_cost_usd is not None]
        if not caps:
            return
        cap = min(caps)
        routing = ctx.request.routing
        if routing.max_cost_usd is None or cap < routing.max_cost_usd:
            ctx.request = ctx.request.model_copy(
                update={"routing": routing.model_copy(update={"max_cost_usd": cap})}
            )

    def _announce(self, ctx: RequestContext, named: dict[str, str]) -> None:
        if self._pm is None:
            return
        for model, rule in named.items():
            emit(self._pm, "policy.denied", ctx, rule=rule, model=model)
