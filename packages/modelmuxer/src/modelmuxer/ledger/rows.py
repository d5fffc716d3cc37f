"""From a :class:`~modelmuxer.types.CallRecord` to a ledger row: exact costs, counterfactuals."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from modelmuxer.ledger.models import to_usd
from modelmuxer.types import CallRecord, ModelCard, Usage

__all__ = ["Pricing", "exact_cost", "record_to_row"]


def _price(value: float) -> Decimal:
    return Decimal(repr(value))  # the price map's figure, not its binary expansion


def exact_cost(card: ModelCard, usage: Usage) -> Decimal:
    """The exact price of ``usage`` at ``card``'s prices (as :meth:`ModelCard.cost_usd`, in
    decimal arithmetic)."""
    cached_price = card.cached_input_cost_per_token
    if cached_price is None:
        cached_price = card.input_cost_per_token
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    uncached = max(usage.prompt_tokens - usage.cached_tokens, 0)
    return to_usd(
        uncached * _price(card.input_cost_per_token)
        + cached * _price(cached_price)
        + usage.completion_tokens * _price(card.output_cost_per_token)
    )


class Pricing:
    """The cards the ledger prices with: each call's own, the strongest, the named model.

    The strongest is the card with the highest quality prior (ties: the dearer output price).
    Without cards, costs are the records' float costs rounded to 1e-12 USD and the
    counterfactual columns stay empty.
    """

    def __init__(self, cards: Iterable[ModelCard] = ()) -> None:
        self.cards: dict[str, ModelCard] = {card.id: card for card in cards}
        ranked = sorted(
            self.cards.values(), key=lambda c: (c.quality, c.output_cost_per_token), reverse=True
        )
        self.strongest: ModelCard | None = ranked[0] if ranked else None

    def cost(self, record: CallRecord) -> Decimal:
        if record.cache in ("exact", "semantic"):
            return to_usd(record.cost_usd)  # served from the cache: what the record says (0)
        card = self.cards.get(record.model)
        return to_usd(record.cost_usd) if card is None else exact_cost(card, record.usage)

    def counterfactual(self, record: CallRecord, card: ModelCard | None) -> Decimal | None:
        """What ``record``'s call would have cost at ``card``'s prices (0 for an escalated step)."""
        if card is None:
            return None
        if record.outcome == "escalated":
            return to_usd(0)
        return exact_cost(card, record.usage)


def record_to_row(record: CallRecord, prompt: str | None, pricing: Pricing) -> dict[str, Any]:
    """The ``ledger_calls`` row of ``record``."""
    identity = record.identity
    usage = record.usage
    strongest = pricing.strongest
    named = pricing.cards.get(record.named_model) if record.named_model else None
    return {
        "request_id": record.request_id,
        "attempt": record.attempt,
        "started_at": record.started_at,
        "user": identity.user,
        "org": identity.org,
        "project": identity.project,
        "role": identity.role,
        "tags": sorted(record.tags),
        "strategy": record.strategy,
        "model": record.model,
        "provider": record.provider,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost_usd": pricing.cost(record),
        "latency_s": record.latency_s,
        "ttft_s": record.ttft_s,
        "streamed": record.streamed,
        "outcome": record.outcome,
        "error": record.error,
        "reason": record.reason,
        "cache": record.cache,
        "saved_usd": to_usd(record.saved_usd),
        "strongest_model": None if strongest is None else strongest.id,
        "cost_if_strongest_usd": pricing.counterfactual(record, strongest),
        "named_model": record.named_model,
        "cost_if_named_usd": pricing.counterfactual(record, named),
        "features": record.features,
        "prompt": prompt,
    }
