"""One :class:`~modelmuxer.types.CallRecord` per LiteLLM call, from its logging payload.

The cost is computed from the card of the deployment that served the call (its own prices), not
taken from LiteLLM's ``response_cost``: deployments sharing a model name but priced differently
are then each priced at their own rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from modelmuxer.backends.litellm_backend import scrub_secrets
from modelmuxer.types import CallOutcome, CallRecord, Identity, ModelCard, Usage
from modelmuxer.types._trusted import built
from modelmuxer_litellm.routing_info import RoutingInfo, is_mapping

__all__ = [
    "STOPPED_BY_READER",
    "build_record",
    "field_of",
    "request_id_of",
    "trace_id_of",
    "usage_of",
]

#: the error of the record of a stream its reader closed or dropped before its end (as the
#: core's: the reader's stop reaches a stream as ``GeneratorExit``)
STOPPED_BY_READER: Final = "GeneratorExit: the reader stopped the stream before its end"


_NO_USAGE: Final = Usage()  # frozen: one for every failed call
_USAGE_FIELDS: Final = frozenset(Usage.model_fields)


def _number(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


#: whether a class has an attribute: ``hasattr`` on a pydantic model class that lacks it
#: goes through the metaclass's ``__getattr__`` and an exception
_CLASS_ATTRS: dict[tuple[type, str], bool] = {}


def _class_has(kind: type, key: str) -> bool:
    found = _CLASS_ATTRS.get((kind, key))
    if found is None:
        found = hasattr(kind, key)
        if len(_CLASS_ATTRS) < 256:
            _CLASS_ATTRS[kind, key] = found
    return found


def field_of(obj: object, key: str) -> object:
    """``obj[key]`` of a mapping, else the attribute ``key`` of an object (``None`` when absent)."""
    if is_mapping(obj):
        return obj.get(key)
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra and key in extra and not _class_has(type(obj), key):
        # what pydantic's ``__getattr__`` answers (LiteLLM keeps a response's ``usage`` there),
        # without failing the ordinary lookup first
        return extra[key]
    return getattr(obj, key, None)


def usage_of(response: object) -> Usage:
    """Token usage of a LiteLLM response (a ``ModelResponse`` or its dict form)."""
    usage = field_of(response, "usage")
    if usage is None:
        return Usage()
    details = field_of(usage, "prompt_tokens_details")
    prompt = _number(field_of(usage, "prompt_tokens"))
    fields = {
        "prompt_tokens": prompt,
        "completion_tokens": _number(field_of(usage, "completion_tokens")),
        "cached_tokens": min(_number(field_of(details, "cached_tokens")), prompt),
    }
    return built(Usage, fields, set(_USAGE_FIELDS))  # non-negative ints: nothing to validate


#: the local zone's UTC offset for each quarter hour seen (numbered from the epoch): LiteLLM's
#: times are naive local ones, and ``astimezone`` looks the zone up on every call
_OFFSETS: dict[int, timedelta] = {}
_QUARTER: Final = timedelta(minutes=15)
_LAST: Final = _QUARTER - timedelta(microseconds=1)
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _offset(local: datetime) -> timedelta:
    """What ``astimezone(UTC)`` takes off ``local`` (also for a time a DST change skips)."""
    return local - local.astimezone(UTC).replace(tzinfo=None)


def _as_utc(naive: datetime) -> datetime:
    """``naive.astimezone(UTC)`` (``naive`` a local time), by timedelta arithmetic (exact)."""
    since = naive - _EPOCH_NAIVE
    quarter = since // _QUARTER
    offset = _OFFSETS.get(quarter)
    if offset is None:
        start = _EPOCH_NAIVE + quarter * _QUARTER
        offset = _offset(start)
        end = start + _LAST
        if (
            offset != _offset(end)
            or offset != _offset(start.replace(fold=1))
            or offset != _offset(end.replace(fold=1))
        ):
            # the zone's offset changes in this quarter hour, or its times occur twice or not
            # at all (a DST change): each is converted as it is, its ``fold`` included
            return naive.astimezone(UTC)
        if len(_OFFSETS) > 64:
            _OFFSETS.clear()
        _OFFSETS[quarter] = offset
    return _EPOCH_UTC + (since - offset)


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else _as_utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


def build_record(
    kwargs: Mapping[str, Any],
    response: object,
    start_time: object,
    end_time: object,
    *,
    card: ModelCard | None,
    info: RoutingInfo,
    attempt: int,
    outcome: CallOutcome,
) -> CallRecord:
    """The record of one call to ``info.deployment``, which ``card`` prices (``None``: LiteLLM's
    ``response_cost``)."""
    started = _as_datetime(start_time)
    ended = _as_datetime(end_time)
    streamed = bool(kwargs.get("stream"))
    usage = _NO_USAGE
    # a stream its reader stopped: the tokens so far (``response`` is built from its chunks)
    answered = outcome == "ok" or outcome == "cancelled"
    if answered:
        usage = usage_of(kwargs.get("complete_streaming_response") or response)
    if card is not None:
        cost = card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        provider = card.provider
    else:
        raw_cost = kwargs.get("response_cost")
        cost = float(raw_cost) if isinstance(raw_cost, int | float) and answered else 0.0
        provider = str(kwargs.get("custom_llm_provider") or "unknown")
    ttft = None
    first_token = kwargs.get("completion_start_time")
    if streamed and first_token is not None and answered:
        ttft = _seconds(started, _as_datetime(first_token))
    error = None
    if outcome == "cancelled":
        error = STOPPED_BY_READER
    elif outcome != "ok":
        exc = kwargs.get("exception") or response
        error = scrub_secrets(f"{type(exc).__name__}: {exc}", _keys(kwargs))[:2000]
    fields: dict[str, Any] = {
        "request_id": info.request_id,
        "attempt": attempt,
        "started_at": started,
        "identity": info.identity,
        "tags": info.tags,
        "strategy": info.strategy,
        "model": info.deployment,
        "provider": provider,
        "usage": usage,
        "cost_usd": float(cost),
        "latency_s": _seconds(started, ended),
        "ttft_s": ttft,
        "streamed": streamed,
        "outcome": outcome,
        "error": error,
        "reason": info.reason,
        "cache": "off",
        "saved_usd": 0.0,
        "features": dict(info.features),
        "named_model": None,
    }
    if (
        type(info.identity) is Identity
        and type(info.tags) is frozenset
        and all(type(tag) is str for tag in info.tags)
    ):
        # every value is of its declared type: the identity and tags were validated (a
        # request's), the features are a decision's (taken as they are even by validation),
        # the rest is typed above: not validated again
        return CallRecord.trusted(fields)
    return CallRecord.model_validate(fields)  # an identity or tags read back from metadata


def _keys(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The API keys the call was made with (a deployment's ``litellm_params.api_key``), scrubbed
    from error texts by value: a provider may echo a key in a shape no pattern knows."""
    params = kwargs.get("litellm_params")
    found = (kwargs.get("api_key"), params.get("api_key") if isinstance(params, Mapping) else None)
    return tuple(key for key in found if isinstance(key, str) and key)


def trace_id_of(kwargs: Mapping[str, Any]) -> str | None:
    """LiteLLM's ``litellm_trace_id`` of a call (one per Router call, shared by its retries and
    fallbacks: ModelMuxer's request id), from its kwargs or their ``litellm_params``."""
    params = kwargs.get("litellm_params")
    trace = kwargs.get("litellm_trace_id") or (
        params.get("litellm_trace_id") if isinstance(params, Mapping) else None
    )
    return str(trace) if trace else None


def request_id_of(kwargs: Mapping[str, Any]) -> str:
    """The id LiteLLM gives the request (shared by its retries), from a call's logging kwargs."""
    return trace_id_of(kwargs) or str(kwargs.get("litellm_call_id") or "unknown")
