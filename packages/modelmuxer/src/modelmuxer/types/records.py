"""The record of one finished model call, broadcast through ``modelmuxer_record``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelmuxer.types.request import Identity
from modelmuxer.types.usage import Usage

__all__ = ["CacheStatus", "CallOutcome", "CallRecord"]

CallOutcome = Literal["ok", "escalated", "error", "cancelled"]
#: ``off``: no cache consulted; ``miss``: consulted, the model was called; ``exact`` /
#: ``semantic``: served from the cache (no model call, cost 0, ``saved_usd`` what it would cost).
CacheStatus = Literal["off", "miss", "exact", "semantic"]


class CallRecord(BaseModel):
    """One model call: the ledger, metrics and user sinks all receive this.

    ``(request_id, attempt)`` is unique: attempt 0 is the first call of a request, a cascade's
    escalations and fallbacks count up from there.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    request_id: str
    attempt: int
    started_at: datetime
    identity: Identity
    tags: frozenset[str]
    strategy: str
    model: str
    provider: str
    usage: Usage
    cost_usd: float
    latency_s: float
    ttft_s: float | None = None
    streamed: bool = False
    outcome: CallOutcome
    error: str | None = None
    reason: str
    cache: CacheStatus = "off"
    saved_usd: float = 0.0
    #: the query features routing computed (``Decision.features``): what learning trains on
    features: dict[str, object] = Field(default_factory=dict)
    #: the model the caller asked for, which routing may have replaced (from the request's
    #: ``metadata["named_model"]``): the ledger reports savings against always using it
    named_model: str | None = None
