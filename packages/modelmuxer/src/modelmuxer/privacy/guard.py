"""PII redaction in the pipeline: :class:`PrivacyGuard`, what :class:`~modelmuxer.Muxer` calls.

After ``modelmuxer_request_start`` and before the cache, :meth:`PrivacyGuard.redact` scans the
request, stores the counts in ``ctx.state["pii_counts"]`` (kind -> distinct values) and, in
``restore`` mode, replaces ``ctx.request`` by its redacted copy: the cache, routing, the model,
the call records and the ledger's stored prompts only ever see placeholders. The answer's
placeholders are put back with :meth:`restore` (or, streamed, a
:class:`~modelmuxer.privacy.StreamRestorer`) just before it is returned to the caller; the
cache keeps the answer with placeholders.
"""

from __future__ import annotations

from collections import defaultdict

import pluggy

from modelmuxer.context import RequestContext
from modelmuxer.events import emit
from modelmuxer.privacy import detectors
from modelmuxer.privacy.messages import map_texts, texts_of
from modelmuxer.privacy.placeholders import PlaceholderFormat
from modelmuxer.privacy.redaction import Redactor
from modelmuxer.privacy.scanner import PiiScanner
from modelmuxer.privacy.settings import PrivacySettings
from modelmuxer.privacy.spans import PiiSpan
from modelmuxer.privacy.streaming import StreamRestorer
from modelmuxer.types import Request

__all__ = ["PII_COUNTS", "PrivacyGuard"]

#: the ``ctx.state`` key holding {kind: number of distinct values} once a request was scanned
PII_COUNTS = "pii_counts"
_BUILTINS = "modelmuxer.privacy.detectors"


class PrivacyGuard:
    """Scans, redacts and restores for one muxer (its detectors come from the plugins)."""

    def __init__(self, pm: pluggy.PluginManager, settings: PrivacySettings) -> None:
        if pm.get_plugin(_BUILTINS) is None:  # built-ins register like third-party detectors
            pm.register(detectors, name=_BUILTINS)
        self.settings = settings
        self.scanner = PiiScanner.from_plugins(
            pm, kinds=settings.kinds, min_score=settings.min_score
        )
        self.placeholder = PlaceholderFormat(settings.placeholder)
        self._pm = pm

    def redact(self, ctx: RequestContext) -> Redactor | None:
        """Scan ``ctx.request``, set ``pii_counts`` and emit the event; in ``restore`` mode
        replace ``ctx.request`` by its redacted copy and return the redactor that restores the
        answer (``None`` when there is nothing to restore)."""
        if self.settings.mode == "detect":
            ctx.state[PII_COUNTS] = counts = self.detect(ctx.request)
            if counts:
                emit(self._pm, "pii.detected", ctx, counts=dict(counts))
            return None
        request, redactor = self.redact_request(ctx.request)
        ctx.request = request
        ctx.state[PII_COUNTS] = counts = redactor.counts
        if counts:
            emit(self._pm, "pii.redacted", ctx, counts=dict(counts))
        return redactor if redactor else None

    def route(self, ctx: RequestContext) -> None:
        """What ``Muxer.route`` does: the same rewrite as a call (so the decision is the one a
        call would make), and the counts; no event (nothing is sent), the redactor is dropped."""
        if self.settings.mode == "detect":
            ctx.state[PII_COUNTS] = self.detect(ctx.request)
            return
        ctx.request, redactor = self.redact_request(ctx.request)
        ctx.state[PII_COUNTS] = redactor.counts

    def redact_request(self, request: Request) -> tuple[Request, Redactor]:
        """``request`` with every value replaced by its placeholder, and the redactor."""
        found: dict[str, list[PiiSpan]] = {}
        taken: set[str] = set()
        for text in texts_of(request):
            if text not in found:
                found[text] = self.scanner.scan(text)
                taken |= self.placeholder.lookalikes(text)
        redactor = Redactor(self.placeholder, taken)
        if not any(found.values()):
            return request, redactor

        def rewrite(text: str) -> str:
            spans = found.get(text)
            return redactor.redact(text, self.scanner.scan(text) if spans is None else spans)

        return map_texts(request, rewrite), redactor

    def detect(self, request: Request) -> dict[str, int]:
        """Kind -> number of distinct values in ``request`` (nothing is changed)."""
        values: defaultdict[str, set[str]] = defaultdict(set)
        for text in set(texts_of(request)):
            for start, end, kind, _ in self.scanner.scan(text):
                values[kind].add(text[start:end])
        return {kind: len(found) for kind, found in values.items()}

    def redact_stream(self, ctx: RequestContext) -> StreamRestorer | None:
        """:meth:`redact` for a streamed call: the restorer of its chunks, or ``None``."""
        redactor = self.redact(ctx)
        return None if redactor is None else StreamRestorer(redactor)

    def __repr__(self) -> str:
        return f"PrivacyGuard(mode={self.settings.mode!r}, kinds={sorted(self.scanner.kinds)})"
