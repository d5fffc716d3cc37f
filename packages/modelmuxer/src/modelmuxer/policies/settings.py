"""Access policies as configured: :class:`PolicySettings` (the ``policies`` field of
``MuxerSettings``), a list of :class:`PolicyRule`.

Semantics (``docs/security.md``, "Access policies and identity"):

* A rule *applies* to a request when its ``match`` holds and its ``unless`` (if any) does not.
  A match holds when every condition it sets holds (AND across fields); a list condition holds
  when the request has any of the listed values (OR within a field). An empty match holds for
  every request.
* Every applying rule is enforced: a model is excluded when *any* applying rule excludes it
  (restrictions add up, nothing an applying rule forbids can be granted back by another). The
  exclusion names the first such rule in the list, so order only decides which rule is named.
* When no rule applies, ``default`` decides: ``allow`` (every model, the default) or ``deny``
  (no model: a closed world, where every caller must be covered by a rule).

Importing this module imports pydantic only: every settings object holds a
:class:`PolicySettings`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelmuxer.types import Identity, ModelCard

__all__ = ["DEFAULT_TIERS", "PolicyMatch", "PolicyRule", "PolicySettings"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: Quality tiers by the card's ``quality`` prior: a card belongs to the highest tier whose
#: minimum it reaches (gpt-4o-mini 0.76: economy; gpt-4o 0.86: standard; claude-sonnet 0.92:
#: premium). Set ``quality`` on a model to place it, or ``tiers`` to redraw the lines.
DEFAULT_TIERS: Mapping[str, float] = {"economy": 0.0, "standard": 0.8, "premium": 0.9}


def _names(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    cleaned = [v.strip() for v in values]
    if not cleaned or any(not v for v in cleaned):
        raise ValueError("list an existing value (an empty list or empty string never matches)")
    return cleaned


class PolicyMatch(BaseModel):
    """Which requests a rule is about. Unset conditions hold for every request.

    Identity values come from :class:`~modelmuxer.types.Identity` (set by the host: LangChain
    metadata, LlamaIndex keyword arguments, the LiteLLM proxy's key and team, or a verified JWT
    through :func:`~modelmuxer.policies.identity_from_jwt`). A request without a role never
    matches ``roles``.
    """

    model_config = _FROZEN
    users: list[str] | None = Field(default=None, description="any of these users")
    orgs: list[str] | None = Field(default=None, description="any of these organisations")
    projects: list[str] | None = Field(default=None, description="any of these projects")
    roles: list[str] | None = Field(default=None, description="any of these roles")
    tags: list[str] | None = Field(default=None, description="the request has any of these tags")
    pii: bool | None = Field(
        default=None,
        description="true: the request contains PII (redaction counted some, or it is tagged "
        "with the settings' pii_tag); false: it contains none",
    )

    @field_validator("users", "orgs", "projects", "roles", "tags")
    @classmethod
    def _check_names(cls, values: list[str] | None) -> list[str] | None:
        return _names(values)

    def holds(self, identity: Identity, tags: frozenset[str], has_pii: bool) -> bool:
        """Whether a request with this identity, these tags and PII or not is matched."""
        for wanted, actual in (
            (self.users, identity.user),
            (self.orgs, identity.org),
            (self.projects, identity.project),
            (self.roles, identity.role),
        ):
            if wanted is not None and actual not in wanted:
                return False
        if self.tags is not None and tags.isdisjoint(self.tags):
            return False
        return self.pii is None or self.pii == has_pii


class PolicyRule(BaseModel):
    """One rule: which requests it applies to, and what it restricts for them.

    Model patterns are shell-style globs on the model id (``openai/*``, ``*gpt-4o*``);
    providers compare case-insensitively with the card's ``provider``.
    """

    model_config = _FROZEN
    name: str = Field(min_length=1, max_length=100, description="named in every denial")
    description: str | None = Field(default=None, description="why the rule exists (for people)")
    match: PolicyMatch = Field(default_factory=PolicyMatch, description="which requests")
    unless: PolicyMatch | None = Field(
        default=None, description="requests this also matches are exempt (e.g. admins)"
    )
    allow_models: list[str] | None = Field(default=None, description="only models matching these")
    allow_providers: list[str] | None = Field(default=None, description="only these providers")
    allow_tiers: list[str] | None = Field(
        default=None, description="only models of these quality tiers (see PolicySettings.tiers)"
    )
    deny_models: list[str] = Field(default_factory=list, description="never models matching these")
    deny_providers: list[str] = Field(default_factory=list, description="never these providers")
    max_cost_usd: float | None = Field(
        default=None,
        gt=0.0,
        description="most a request may cost: models whose worst case (whole prompt plus "
        "max_tokens, or the model's output limit) exceeds it are excluded, and a cascade stops "
        "escalating before it",
    )

    @field_validator("allow_models", "allow_providers", "allow_tiers")
    @classmethod
    def _check_allowed(cls, values: list[str] | None) -> list[str] | None:
        return _names(values)

    @field_validator("deny_models", "deny_providers")
    @classmethod
    def _check_denied(cls, values: list[str]) -> list[str]:
        return _names(values) or [] if values else values

    def applies(self, identity: Identity, tags: frozenset[str], has_pii: bool) -> bool:
        """Whether this rule applies to such a request (``match`` and not ``unless``)."""
        if not self.match.holds(identity, tags, has_pii):
            return False
        return self.unless is None or not self.unless.holds(identity, tags, has_pii)

    def refusal(self, card: ModelCard, tier: str) -> str | None:
        """Why this rule excludes ``card`` (of quality tier ``tier``), cost aside; or ``None``."""
        model, provider = card.id, card.provider.lower()
        if any(fnmatch.fnmatchcase(model, p) for p in self.deny_models):
            return f"{model} is a denied model"
        if provider in {p.lower() for p in self.deny_providers}:
            return f"provider {card.provider} is denied"
        if self.allow_models is not None and not any(
            fnmatch.fnmatchcase(model, p) for p in self.allow_models
        ):
            return f"{model} is not among the allowed models ({', '.join(self.allow_models)})"
        allowed_providers = self.allow_providers
        if allowed_providers is not None and provider not in {p.lower() for p in allowed_providers}:
            return (
                f"provider {card.provider} is not among the allowed providers "
                f"({', '.join(allowed_providers)})"
            )
        if self.allow_tiers is not None and tier not in self.allow_tiers:
            return f"{model} is tier {tier!r}; allowed tiers: {', '.join(self.allow_tiers)}"
        return None


class PolicySettings(BaseModel):
    """Who may use which models: ordered rules, a default, and the quality tiers.

    Off (no plugin registered, routing unchanged) until a rule is configured or ``default`` is
    ``deny``.
    """

    model_config = _FROZEN
    rules: list[PolicyRule] = Field(default_factory=list, description="the rules, in order")
    default: Literal["allow", "deny"] = Field(
        default="allow",
        description="when no rule applies to a request: allow every model, or deny them all",
    )
    tiers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TIERS),
        description="tier name -> the least card quality it takes; a card is in the highest "
        "tier it reaches",
    )
    pii_tag: str = Field(
        default="pii", min_length=1, description="a request with this tag counts as PII"
    )

    @property
    def active(self) -> bool:
        """Whether a muxer registers the policy engine."""
        return bool(self.rules) or self.default == "deny"

    @field_validator("tiers")
    @classmethod
    def _check_tiers(cls, tiers: dict[str, float]) -> dict[str, float]:
        if not tiers:
            raise ValueError("define at least one tier")
        for name, floor in tiers.items():
            if not name or not 0.0 <= floor <= 1.0:
                raise ValueError(f"tier {name!r}: a name and a quality in [0, 1] are required")
        if min(tiers.values()) > 0.0:
            raise ValueError("the lowest tier must start at 0.0, so every model has a tier")
        return tiers

    @model_validator(mode="after")
    def _check_rules(self) -> PolicySettings:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}: denials name rules")
            seen.add(rule.name)
            unknown = sorted(set(rule.allow_tiers or ()) - set(self.tiers))
            if unknown:
                raise ValueError(
                    f"rule {rule.name!r}: unknown tier(s) {', '.join(unknown)}; "
                    f"tiers: {', '.join(self.tiers)}"
                )
        return self

    def tier_of(self, card: ModelCard) -> str:
        """The quality tier of ``card``: the highest whose minimum its ``quality`` reaches."""
        reached = [(floor, name) for name, floor in self.tiers.items() if card.quality >= floor]
        return max(reached)[1]
