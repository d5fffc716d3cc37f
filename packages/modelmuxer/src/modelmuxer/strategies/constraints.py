"""Hard constraints every strategy honours: applied before a strategy sees the candidates."""

from __future__ import annotations

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import ModelCard, Request

__all__ = ["exclusion_reason"]


def exclusion_reason(features: QueryFeatures, request: Request, card: ModelCard) -> str | None:
    """Why ``card`` may not answer ``request``, or ``None`` when it may.

    Checks, in order: allow / deny lists, required capabilities (tools, vision, JSON mode),
    ``max_tokens`` against the model's output limit, the context window (prompt tokens plus the
    output budget) and the per-request cost ceiling (worst case).
    """
    routing = request.routing
    if routing.allow is not None and card.id not in routing.allow:
        return "not in the request's allow list"
    if card.id in routing.deny:
        return "in the request's deny list"
    caps = card.capabilities
    if features.needs_tools and not caps.tools:
        return "the request offers tools and this model cannot call tools"
    if features.has_images and not caps.vision:
        return "the request contains images and this model has no vision"
    if features.needs_json and not caps.json_mode:
        return "the request asks for JSON output and this model has no JSON mode"
    max_tokens = request.params.max_tokens
    if max_tokens is not None and max_tokens > card.max_output_tokens:
        return f"max_tokens={max_tokens} exceeds the model's output limit {card.max_output_tokens}"
    output_budget = max_tokens or min(features.expected_output_tokens, card.max_output_tokens)
    needed = features.prompt_tokens + output_budget
    if needed > card.context_window:
        return (
            f"needs ~{needed} tokens ({features.prompt_tokens} prompt + {output_budget} output) "
            f"but the context window is {card.context_window}"
        )
    if routing.max_cost_usd is not None:
        worst = worst_case_cost(features, request, card)
        if worst > routing.max_cost_usd:
            return (
                f"worst-case cost ${_usd(worst)} exceeds the ceiling ${_usd(routing.max_cost_usd)}"
            )
    return None


def _usd(amount: float) -> str:
    """``amount`` to the micro-dollar, or in two significant digits below one micro-dollar
    (a ceiling of 1e-9 must not read as ``$0.000000``)."""
    return f"{amount:.6f}" if amount >= 1e-6 or amount == 0.0 else f"{amount:.2g}"
