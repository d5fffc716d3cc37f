"""Ending the requests ModelMuxer routes on a LiteLLM Router: ``modelmuxer_request_end``.

In the core, a request ends when :meth:`~modelmuxer.Muxer.acomplete` returns or raises, and the
``modelmuxer_request_end`` listeners (the audit log, request metrics, request logs, the request
span) hear of it then. Through a LiteLLM Router, LiteLLM makes the calls; a request ends:

- with its answer, when LiteLLM reports a successful call of it (after a streamed answer's last
  chunk, so the answer is complete);
- with an error, when LiteLLM gives up on it: the Router's ``acompletion`` raised
  (``register`` wraps it) or, in the proxy, its failure hook ran. That is also how a request a
  ModelMuxer policy refused while routing ends (a budget, a rate limit, a plugin's
  ``modelmuxer_request_start``): LiteLLM may retry a refused request, so the refusal alone
  does not end it.

A streamed request ends too when its stream raises an error to its reader, or its reader
stops it early (:mod:`modelmuxer_litellm.streams`): a failure LiteLLM takes over from (a retry
or a fallback spliced into the stream) does not reach the reader and does not end it.

A failed attempt LiteLLM retries or falls back from does not end the request; it is listed in
the answer's ``attempts`` and its cost counted. All of this costs nothing while no plugin
listens to ``modelmuxer_request_end``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import pluggy

from modelmuxer.backends.litellm_backend import finish_reason
from modelmuxer.context import RequestContext
from modelmuxer.plugins import notify
from modelmuxer.types import Attempt, CallRecord, Completion, Decision, FunctionCall, ToolCall
from modelmuxer_litellm.records import STOPPED_BY_READER, field_of

__all__ = [
    "OpenRequests",
    "RequestSlot",
    "answer_of",
    "close_slot",
    "fresh_slot",
    "note_in_slot",
    "open_slot",
    "slot_request_ids",
]

log = logging.getLogger("modelmuxer_litellm")

#: how many requests may be open (routed, not yet ended) at once before the oldest is dropped
_OPEN: Final = 4096


@dataclass(slots=True)
class RequestSlot:
    """Set for one call of the Router's ``acompletion`` (by ``register``'s wrapper): the ids of
    the requests ModelMuxer routed inside it, so that an error it raises ends them."""

    request_ids: list[str] = field(default_factory=list)


_SLOT: ContextVar[RequestSlot | None] = ContextVar("modelmuxer_litellm_slot", default=None)


def open_slot() -> tuple[RequestSlot | None, Any]:
    """A new slot for an outermost Router call (``None`` inside one: a Router that calls itself,
    for a fallback say, keeps the outer call's) and the token to reset it with."""
    if _SLOT.get() is not None:
        return None, None
    slot = RequestSlot()
    return slot, _SLOT.set(slot)


def fresh_slot() -> None:
    """A new slot for the rest of this context (the proxy's request, from its pre-call hook)."""
    _SLOT.set(RequestSlot())


def slot_request_ids() -> tuple[str, ...]:
    """The ids of the requests routed in this context's slot (none without a slot)."""
    slot = _SLOT.get()
    return tuple(slot.request_ids) if slot is not None else ()


def note_in_slot(request_id: str) -> None:
    """Note in this context's slot (if any) that the request ``request_id`` was routed in it."""
    slot = _SLOT.get()
    if slot is not None and request_id not in slot.request_ids:
        slot.request_ids.append(request_id)


def close_slot(token: Any) -> None:
    """Undo :func:`open_slot` (given its token)."""
    if token is not None:
        _SLOT.reset(token)


@dataclass(slots=True)
class _Open:
    ctx: RequestContext
    decision: Decision | None = None
    attempts: list[Attempt] = field(default_factory=list)
    spent: float = 0.0


class OpenRequests:
    """The requests routed and not yet ended, by request id, and their ending.

    ``hook`` is the muxer's ``modelmuxer_request_end`` caller. Thread-safe (LiteLLM reports sync
    calls from worker threads); never raises into LiteLLM.
    """

    def __init__(self, hook: pluggy.HookCaller, size: int = _OPEN) -> None:
        self._hook = hook
        self._size = size
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def listened(self) -> bool:
        """Whether any plugin listens to ``modelmuxer_request_end`` (else nothing is kept)."""
        return bool(self._hook.get_hookimpls())

    def routing(self, ctx: RequestContext) -> None:
        """``ctx``'s request is being routed (again, for a retry: its first context stays)."""
        request_id = ctx.request.request_id
        with self._lock:
            if request_id not in self._open:
                self._open[request_id] = _Open(ctx)
                if len(self._open) > self._size:
                    self._open.popitem(last=False)
        note_in_slot(request_id)

    def routed(self, request_id: str, decision: Decision) -> None:
        """ModelMuxer chose ``decision`` for the request (the latest choice counts)."""
        entry = self._open.get(request_id)
        if entry is not None:
            entry.decision = decision

    def call_ended(self, record: CallRecord, response: object, kwargs: Mapping[str, Any]) -> None:
        """LiteLLM reported a call of an open request: a success ends the request with its
        answer; a stream its reader stopped (``cancelled``) ends it as the core's streams end
        then (``GeneratorExit``); a failure is an attempt (LiteLLM may retry or fall back)."""
        with self._lock:
            entry = self._open.get(record.request_id)
            if entry is None:
                return
            if record.outcome != "ok" and record.outcome != "cancelled":
                entry.attempts.append(_attempt(record, "failed"))
                entry.spent += record.cost_usd
                return
            del self._open[record.request_id]
        if record.outcome == "cancelled":
            self._end(entry.ctx, None, GeneratorExit(STOPPED_BY_READER))
            return
        try:
            answer = kwargs.get("complete_streaming_response") or response
            completion = _completion(entry, record, answer)
        except Exception as exc:  # an answer ModelMuxer's types reject: the request failed
            self._end(entry.ctx, None, exc)
            return
        self._end(entry.ctx, completion, None)

    def failed(self, request_id: str, error: BaseException) -> None:
        """The request ended with ``error`` (LiteLLM gave up on it)."""
        with self._lock:
            entry = self._open.pop(request_id, None)
        if entry is not None:
            self._end(entry.ctx, None, error)

    def failed_all(self, request_ids: Sequence[str], error: BaseException) -> None:
        """The requests ``request_ids`` (those still open) ended with ``error``."""
        for request_id in request_ids:
            self.failed(request_id, error)

    def failed_in_slot(self, error: BaseException) -> None:
        """The Router call of this context failed with ``error``: the requests routed in it
        and still open end with it."""
        slot = _SLOT.get()
        if slot is not None:
            self.failed_all(slot.request_ids, error)

    def _end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        try:
            notify(self._hook, ctx=ctx, completion=completion, error=error)
        except Exception:  # the listeners must not raise; if one does, LiteLLM's call is not its
            log.exception("modelmuxer_litellm: a modelmuxer_request_end listener raised")


def _attempt(record: CallRecord, outcome: Literal["accepted", "failed"]) -> Attempt:
    return Attempt(
        model=record.model,
        outcome=outcome,
        usage=record.usage,
        cost_usd=record.cost_usd,
        latency_s=record.latency_s,
        error=record.error,
    )


def _completion(entry: _Open, record: CallRecord, response: object) -> Completion:
    """The answer of the request ``entry``, which the call of ``record`` gave."""
    ctx = entry.ctx
    text, tool_calls, finish = answer_of(response)
    decision = entry.decision
    if decision is None:  # LiteLLM answered without asking ModelMuxer (should not happen)
        decision = Decision(
            strategy="litellm",
            models=[record.model],
            candidates=[],
            reason=record.reason or f"{record.model}: chosen by LiteLLM",
        )
    return Completion(
        request_id=ctx.request.request_id,
        text=text,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=record.usage,
        cost_usd=entry.spent + record.cost_usd,
        model=record.model,
        provider=record.provider,
        decision=decision,
        attempts=[*entry.attempts, _attempt(record, "accepted")],
        latency_s=time.perf_counter() - ctx.started_perf,
    )


def answer_of(response: object) -> tuple[str, list[ToolCall], Any]:
    """The text, tool calls and finish reason of a LiteLLM answer (a ``ModelResponse`` or its
    dict form)."""
    choices = field_of(response, "choices")
    if not isinstance(choices, list | tuple) or not choices:
        return "", [], "stop"
    choice = choices[0]
    message = field_of(choice, "message")
    content = field_of(message, "content")
    text = content if isinstance(content, str) else ""
    calls: list[ToolCall] = []
    raw_calls = field_of(message, "tool_calls")
    for index, raw in enumerate(raw_calls if isinstance(raw_calls, list | tuple) else ()):
        function = field_of(raw, "function")
        name = field_of(function, "name")
        if not name:
            continue
        arguments = field_of(function, "arguments")
        calls.append(
            ToolCall(
                id=str(field_of(raw, "id") or f"call_{index}"),
                function=FunctionCall(
                    name=str(name), arguments=arguments if isinstance(arguments, str) else "{}"
                ),
            )
        )
    return text, calls, finish_reason(field_of(choice, "finish_reason"), bool(calls))
