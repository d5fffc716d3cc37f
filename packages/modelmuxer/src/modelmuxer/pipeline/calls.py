"""One model call: timeout, timing, cost and the call record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pluggy

from modelmuxer._secrets import error_text
from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.errors import ModelMuxerError, ProviderError, ProviderTimeout
from modelmuxer.plugins import direct_wrapper, notify
from modelmuxer.types import CallOutcome, CallRecord, Decision, Identity, ModelCard, Usage

__all__ = ["CallResult", "call_model", "emit_record", "make_record"]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A finished non-streamed call."""

    response: ModelResponse
    cost_usd: float
    latency_s: float
    started_at: float  # wall-clock seconds since the epoch (time.time())


def emit_record(
    pm: pluggy.PluginManager,
    ctx: RequestContext,
    decision: Decision,
    call: ModelCall,
    *,
    started_at: float,
    usage: Usage,
    latency_s: float,
    outcome: CallOutcome,
    error: BaseException | None = None,
    ttft_s: float | None = None,
    reason: str | None = None,
    cost_usd: float | None = None,
) -> None:
    """Broadcast the record of one model call (skipped cheaply when nobody listens).

    ``reason`` says why this model was called when it is not the decision's reason (a retry,
    a fallback); ``cost_usd`` is the call's cost when the caller has it (else priced here).
    """
    if not pm.hook.modelmuxer_record.get_hookimpls():
        return
    card = call.card
    if cost_usd is None:
        cost_usd = card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    record = make_record(
        ctx,
        decision,
        model=card.id,
        provider=card.provider,
        attempt=call.attempt,
        started_at=started_at,
        usage=usage,
        cost_usd=cost_usd,
        latency_s=latency_s,
        streamed=call.stream,
        outcome=outcome,
        error=error,
        ttft_s=ttft_s,
        reason=reason,
    )
    notify(pm.hook.modelmuxer_record, record=record)


def make_record(
    ctx: RequestContext,
    decision: Decision,
    *,
    model: str,
    provider: str,
    attempt: int,
    started_at: float,
    usage: Usage,
    cost_usd: float,
    latency_s: float,
    streamed: bool,
    outcome: CallOutcome,
    error: BaseException | None = None,
    ttft_s: float | None = None,
    reason: str | None = None,
    saved_usd: float = 0.0,
) -> CallRecord:
    """The :class:`CallRecord` of one call of ``ctx``'s request (a model call or a cache hit).

    Built with :meth:`CallRecord.trusted` (not validated again): the values come from the
    validated request, decision and card, or are typed here. The ones a plugin may have
    replaced without validation (``model_copy(update=...)`` of the request, a backend's usage)
    are checked for their exact types, and the record is validated when one is not.
    """
    request = ctx.request
    fields: dict[str, Any] = {
        "request_id": request.request_id,
        "attempt": attempt,
        "started_at": datetime.fromtimestamp(started_at, UTC),
        "identity": request.identity,
        "tags": request.tags,
        "strategy": decision.strategy,
        "model": model,
        "provider": provider,
        "usage": usage,
        "cost_usd": float(cost_usd),
        "latency_s": float(latency_s),
        "ttft_s": None if ttft_s is None else float(ttft_s),
        "streamed": streamed,
        "outcome": outcome,
        "error": None if error is None else error_text(error),
        "reason": decision.reason if reason is None else reason,
        "features": decision.features,
        "named_model": _named_model(request.metadata),
        "cache": ctx.cache,
        "saved_usd": float(saved_usd),
    }
    if (
        type(fields["identity"]) is Identity
        and type(fields["tags"]) is frozenset
        and type(fields["features"]) is dict
        and type(usage) is Usage
    ):
        return CallRecord.trusted(fields)
    return CallRecord.model_validate(fields)


def _named_model(metadata: Mapping[str, object]) -> str | None:
    named = metadata.get("named_model")
    return named if isinstance(named, str) and named else None


async def call_model(
    pm: pluggy.PluginManager,
    ctx: RequestContext,
    decision: Decision,
    call: ModelCall,
    *,
    reason: str | None = None,
) -> CallResult:
    """Call the model once through the ``modelmuxer_call_model`` hook, with the call's timeout.

    A failure is recorded (outcome ``error`` or ``cancelled``, with ``reason``) and re-raised: a
    :class:`~modelmuxer.errors.ModelMuxerError` as it is, anything else as a
    :class:`ProviderError`; success is returned unrecorded (the caller knows the outcome).
    Retries and fallbacks are the caller's (:class:`~modelmuxer.pipeline.Executor`).
    """
    started_at = time.time()  # a datetime is only built if a record is emitted
    t0 = time.perf_counter()
    try:
        hook = pm.hook.modelmuxer_call_model
        impls = hook.get_hookimpls()
        awaitable: Awaitable[ModelResponse]
        if len(impls) == 1:
            awaitable = call.backend.complete(call)  # only the built-in: skip the hook machinery
        elif (wrap := direct_wrapper(hook, impls)) is not None:
            awaitable = wrap(ctx, call, call.backend.complete(call))
        else:
            awaitable = hook(ctx=ctx, call=call)
        async with asyncio.timeout(call.timeout_s):
            response: ModelResponse = await awaitable
    except TimeoutError:
        error: ProviderError = ProviderTimeout(model=call.card.id, timeout_s=call.timeout_s)
        _record_failure(pm, ctx, decision, call, started_at, t0, "error", error, reason)
        raise error from None
    except asyncio.CancelledError as exc:
        _record_failure(pm, ctx, decision, call, started_at, t0, "cancelled", exc, reason)
        raise
    except ModelMuxerError as exc:
        # Provider errors, and typed errors of wrappers (a budget guard, a misconfigured
        # backend) keep their type: only unexpected exceptions become ProviderError.
        _record_failure(pm, ctx, decision, call, started_at, t0, "error", exc, reason)
        raise
    except Exception as exc:
        _record_failure(pm, ctx, decision, call, started_at, t0, "error", exc, reason)
        # scrubbed, and not chained: a third-party exception's text may hold a key
        raise ProviderError(error_text(exc), model=call.card.id) from None
    latency = time.perf_counter() - t0
    usage = response.usage
    cost = _cost(call.card, usage)
    return CallResult(response=response, cost_usd=cost, latency_s=latency, started_at=started_at)


def _cost(card: ModelCard, usage: Usage) -> float:
    return card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


def _record_failure(
    pm: pluggy.PluginManager,
    ctx: RequestContext,
    decision: Decision,
    call: ModelCall,
    started_at: float,
    t0: float,
    outcome: CallOutcome,
    error: BaseException,
    reason: str | None,
) -> None:
    emit_record(
        pm,
        ctx,
        decision,
        call,
        started_at=started_at,
        usage=Usage(),
        latency_s=time.perf_counter() - t0,
        outcome=outcome,
        error=error,
        reason=reason,
    )
