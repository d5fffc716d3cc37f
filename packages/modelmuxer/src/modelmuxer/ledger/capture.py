"""Prompt capture for ``store_prompts``: a plugin registered only when prompts are stored."""

from __future__ import annotations

import threading
from collections import OrderedDict

from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import Completion

__all__ = ["PromptCapture"]


class PromptCapture:
    """Remembers each request from ``modelmuxer_request_start`` until its end, and gives its
    prompt text as the model received it (read when the record is written: after rewrites,
    and after PII redaction, so a redacted request's prompt is stored with placeholders).

    Kept out of :class:`~modelmuxer.types.CallRecord` so that other record sinks never see
    prompts, and so that nothing is captured (and nothing costs) unless the ledger stores them.
    Bounded: ``Muxer.route`` starts requests it never ends, so the oldest entries are dropped
    past ``limit``.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._requests: OrderedDict[str, RequestContext] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request_id: str) -> str | None:
        with self._lock:
            ctx = self._requests.get(request_id)
        return None if ctx is None else ctx.request.prompt_text

    @hookimpl(trylast=True)
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        with self._lock:
            self._requests[ctx.request.request_id] = ctx
            if len(self._requests) > self._limit:
                self._requests.popitem(last=False)

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        with self._lock:
            self._requests.pop(ctx.request.request_id, None)
