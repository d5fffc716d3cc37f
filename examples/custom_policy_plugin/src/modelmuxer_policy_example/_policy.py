"""The routing policy: where confidential requests and code questions may go."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from modelmuxer import Decision, ModelCard, hookimpl
from modelmuxer.context import RequestContext
from modelmuxer.strategies import RoutingTask

__all__ = [
    "CODE_MODEL_ENV",
    "CONFIDENTIAL_REASON",
    "CONFIDENTIAL_TAG",
    "SELF_HOSTED_ENV",
    "SELF_HOSTED_PROVIDERS",
    "RoutingPolicy",
]

#: The tag that keeps a request on self-hosted models.
CONFIDENTIAL_TAG = "confidential"
#: Why a model was excluded; shown in ``Decision.candidates`` and in ``NoEligibleModel``.
CONFIDENTIAL_REASON = "tagged confidential: only self-hosted models may answer"
#: Providers whose models run on your own machines (litellm provider names).
SELF_HOSTED_PROVIDERS: frozenset[str] = frozenset({"ollama", "vllm", "hosted_vllm", "local"})
#: The model code questions go to (a candidate id, e.g. ``ollama/qwen2.5-coder``).
CODE_MODEL_ENV = "MODELMUXER_POLICY_CODE_MODEL"
#: Comma-separated providers that count as self-hosted, replacing ``SELF_HOSTED_PROVIDERS``.
SELF_HOSTED_ENV = "MODELMUXER_POLICY_SELF_HOSTED"

_STRATEGY_NAME = "policy:code"


class RoutingPolicy:
    """Two rules, as ModelMuxer hooks.

    1. A request tagged ``confidential`` may only be answered by a self-hosted model: one whose
       card's ``provider`` is in ``self_hosted_providers``. Every other candidate is excluded
       (``modelmuxer_filter_candidates``), so a confidential request with no self-hosted
       candidate fails with ``NoEligibleModel`` instead of leaving your machines. The rule also
       holds for a pinned model.
    2. A request that query analysis classifies as code (``task_type == "code"``) goes to
       ``code_model`` when that model is an eligible candidate (``modelmuxer_select``); otherwise
       the muxer's strategy decides as usual. Rule 1 runs first, so a confidential code question
       never reaches a cloud code model.
    """

    def __init__(
        self,
        *,
        code_model: str | None = None,
        self_hosted_providers: Iterable[str] = SELF_HOSTED_PROVIDERS,
        tag: str = CONFIDENTIAL_TAG,
    ) -> None:
        self.code_model = code_model
        self.self_hosted_providers = frozenset(self_hosted_providers)
        self.tag = tag

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RoutingPolicy:
        """The policy configured by ``MODELMUXER_POLICY_CODE_MODEL`` and ``..._SELF_HOSTED``."""
        providers = environ.get(SELF_HOSTED_ENV)
        return cls(
            code_model=environ.get(CODE_MODEL_ENV) or None,
            self_hosted_providers=(
                SELF_HOSTED_PROVIDERS
                if not providers
                else {p.strip() for p in providers.split(",") if p.strip()}
            ),
        )

    def is_self_hosted(self, card: ModelCard) -> bool:
        """True when ``card``'s provider runs on your own machines."""
        return card.provider in self.self_hosted_providers

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        """Exclude every model that is not self-hosted from a confidential request."""
        if self.tag not in ctx.request.tags:
            return None
        return {c.id: CONFIDENTIAL_REASON for c in candidates if not self.is_self_hosted(c)}

    @hookimpl
    def modelmuxer_select(self, ctx: RequestContext, task: RoutingTask) -> Decision | None:
        """Send code questions to ``code_model`` when it may answer; else defer to the strategy."""
        model = self.code_model
        if model is None or task.features.task_type != "code":
            return None
        if not any(c.model == model for c in task.candidates):
            return None
        return task.decide(_STRATEGY_NAME, [model], f"{model}: code questions go to this model")

    def __repr__(self) -> str:
        return (
            f"RoutingPolicy(code_model={self.code_model!r}, "
            f"self_hosted_providers={sorted(self.self_hosted_providers)!r}, tag={self.tag!r})"
        )
