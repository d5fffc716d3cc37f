"""The record of one finished model call, broadcast through ``modelmuxer_record``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator

from modelmuxer.types._trusted import built
from modelmuxer.types.request import Identity
from modelmuxer.types.usage import Usage

__all__ = ["CacheStatus", "CallOutcome", "CallRecord"]

CallOutcome = Literal["ok", "escalated", "error", "cancelled"]
#: ``off``: no cache consulted; ``miss``: consulted, the model was called; ``exact`` /
#: ``semantic``: served from the cache (no model call, cost 0, ``saved_usd`` what it would cost).
CacheStatus = Literal["off", "miss", "exact", "semantic"]


def _taken_as_is(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A value of exactly the declared container type, with string keys / items, is taken as it
    is, without being copied.

    A record is built for every model call (the ledger, metrics and sinks all hear it); its
    features and tags come from the already validated decision and request, and walking the
    few dozen features again cost most of the record's construction. Anything else (a mapping
    read back from a database, a list of tags) is validated as usual.
    """
    if (type(value) is dict or type(value) is frozenset) and all(type(key) is str for key in value):
        return value  # the values of features are free-form (``object``): nothing to check
    return handler(value)


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
    tags: Annotated[frozenset[str], WrapValidator(_taken_as_is)]
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
    features: Annotated[dict[str, object], WrapValidator(_taken_as_is)] = Field(
        default_factory=dict
    )
    #: the model the caller asked for, which routing may have replaced (from the request's
    #: ``metadata["named_model"]``): the ledger reports savings against always using it
    named_model: str | None = None

    @classmethod
    def trusted(cls, fields: dict[str, Any]) -> CallRecord:
        """The record of ``fields`` taken as they are, not validated again: every field named,
        each value already of its declared type (the pipeline builds its records from
        validated requests, decisions and cards, one or more per request, and validation was
        most of a record's cost). Anything read from outside is validated: ``CallRecord(...)``.
        """
        if len(fields) != len(_FIELDS):  # the names themselves are the tests' to check
            raise TypeError(f"CallRecord.trusted needs every field: {sorted(_FIELDS)}")
        return built(cls, fields, set(_FIELDS))


_FIELDS = frozenset(CallRecord.model_fields)
