"""Prompt capture for ``store_prompts``: a plugin registered only when prompts are stored."""

from __future__ import annotations

import threading
from collections import OrderedDict

from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import Completion

__all__ = ["PromptCapture"]


class PromptCapture:
    """Remembers each request's prompt text from ``modelmuxer_request_start`` until its end.

    Kept out of :class:`~modelmuxer.types.CallRecord` so that other record sinks never see
    prompts, and so that nothing is captured (and nothing costs) unless the ledger stores them.
    Bounded: ``Muxer.route`` starts requests it never ends, so the oldest entries are dropped
    past ``limit``.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._prompts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request_id: str) -> str | None:
        with self._lock:
            return self._prompts.get(request_id)

    @hookimpl(trylast=True)  # after other plugins' rewrites (e.g. a redaction) of the request
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        with self._lock:
            self._prompts[ctx.request.request_id] = ctx.request.prompt_text
            if len(self._prompts) > self._limit:
                self._prompts.popitem(last=False)

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        with self._lock:
            self._prompts.pop(ctx.request.request_id, None)
