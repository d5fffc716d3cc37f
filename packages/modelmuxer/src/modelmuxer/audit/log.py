"""The audit log plugin: one hash-chained entry per request, written off the request path."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelmuxer.audit.chain import Body, format_time, format_usd
from modelmuxer.audit.settings import AuditSettings
from modelmuxer.audit.spool import Spool
from modelmuxer.audit.writer import AuditWriter
from modelmuxer.errors import ModelMuxerError, NoEligibleModel, ProviderError
from modelmuxer.hookspecs import hookimpl
from modelmuxer.ledger.errors import safe_url
from modelmuxer.policies.engine import PII_COUNTS_KEY, RULES_KEY

if TYPE_CHECKING:
    from modelmuxer.audit.verify import VerifyResult
    from modelmuxer.context import RequestContext
    from modelmuxer.crypto import Encryptor
    from modelmuxer.transport import PostgresTLS
    from modelmuxer.types import CallRecord, Completion

__all__ = ["AuditLog"]

_log = logging.getLogger("modelmuxer.audit")
#: requests whose calls are being summed while they run (bounded: a host that records calls
#: without ending requests must not grow it forever)
_MAX_OPEN = 10_000
_MAX_REASON = 2000
_CANCELLED = (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)


def _text(value: str) -> str:
    """``value`` storable everywhere: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _opt(value: str | None) -> str | None:
    return None if value is None else _text(value)


@dataclass(slots=True)
class _Calls:
    """The calls one request made so far (from its records): for requests that fail."""

    models: list[str] = field(default_factory=list)
    cost_usd: float = 0.0


def _reason_of(error: BaseException) -> str | None:
    """What an error says about the decision, without provider text (which may echo input)."""
    if isinstance(error, NoEligibleModel):
        return "no eligible model: " + "; ".join(f"{m}: {w}" for m, w in error.exclusions.items())
    if isinstance(error, ProviderError):
        code = f" (HTTP {error.status_code})" if error.status_code else ""
        return f"{error.model}{code}: {type(error).__name__}"
    if isinstance(error, ModelMuxerError):
        return str(error)
    return None


class AuditLog:
    """Appends one entry per request to the ``audit_log`` table, hash-chained.

    Register it as a plugin (a :class:`~modelmuxer.Muxer` does when ``settings.audit.enabled``)::

        audit = AuditLog(AuditSettings(enabled=True, url="postgresql+asyncpg://..."))
        muxer.plugins.register(audit)

    ``modelmuxer_request_end`` queues the entry (no I/O on the request path); a background
    thread appends queued entries in batches, each batch one transaction that cannot fork the
    chain (see :mod:`modelmuxer.audit.store`). :meth:`close` / :meth:`aclose` write what is
    queued; entries the database does not take by then are kept in a spool file and appended
    by the next audit log on the same database. ``url``: the database when ``settings.url``
    is unset (the muxer passes the ledger's). ``tls``: how a PostgreSQL database is reached.
    ``encryptor``: with ``store_prompts``, each prompt is stored encrypted (in the database and
    the spool); the chain covers the ciphertext, so verifying it needs no encryption key.
    """

    def __init__(
        self,
        settings: AuditSettings | None = None,
        *,
        url: str | None = None,
        tls: PostgresTLS | None = None,
        encryptor: Encryptor | None = None,
    ) -> None:
        self.settings = settings if settings is not None else AuditSettings(enabled=True)
        self.url = self.settings.resolved_url(url)
        self._encryptor = encryptor
        self.keyed = self.settings.resolved_key() is not None
        self._open: OrderedDict[str, _Calls] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        spool = Spool(self.settings.resolved_spool_dir(self.url))
        self._writer = AuditWriter(
            self.settings, self.url, self.settings.resolved_key(), spool, tls=tls
        )
        self._writer.start()

    # -- the request path ------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """Sum the cost and note the model of each call (for requests that end in an error)."""
        with self._lock:
            calls = self._open.get(record.request_id)
            if calls is None:
                calls = self._open[record.request_id] = _Calls()
                if len(self._open) > _MAX_OPEN:
                    self._open.popitem(last=False)
            if record.model not in calls.models:
                calls.models.append(record.model)
            calls.cost_usd += record.cost_usd

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        """Queue the request's entry (never raises, never waits on I/O)."""
        with self._lock:
            calls = self._open.pop(ctx.request.request_id, None)
        if self._closed:
            _log.warning("audit: closed; entry of request %s dropped", ctx.request.request_id)
            return
        try:
            body = self.entry(ctx, completion, error, calls)
        except Exception as exc:  # unserialisable state from a plugin: never fail the request
            _log.error("audit: entry of request %s not kept: %s", ctx.request.request_id, exc)
            return
        self._writer.put(body)

    def entry(
        self,
        ctx: RequestContext,
        completion: Completion | None,
        error: BaseException | None,
        calls: _Calls | None = None,
    ) -> Body:
        """The body of the entry for this request (see :mod:`modelmuxer.audit.chain`)."""
        request = ctx.request
        identity = request.identity
        if completion is not None:
            models = list(completion.decision.models)
            model: str | None = completion.model
            reason: str | None = completion.decision.reason
            cost = completion.cost_usd
            outcome = "ok"
        else:
            models = list(calls.models) if calls else []
            model = None
            reason = None if error is None else _reason_of(error)
            cost = calls.cost_usd if calls else 0.0
            outcome = "cancelled" if isinstance(error, _CANCELLED) else "error"
        counts = ctx.state.get(PII_COUNTS_KEY)
        rules = ctx.state.get(RULES_KEY)
        return {
            "request_id": _text(request.request_id),
            "at": format_time(ctx.started_at),
            "user": _opt(identity.user),
            "org": _opt(identity.org),
            "project": _opt(identity.project),
            "role": _opt(identity.role),
            "tags": sorted(_text(t) for t in request.tags),
            "strategy": _opt(ctx.strategy),
            "models": [_text(m) for m in models],
            "model": _opt(model),
            "reason": None if reason is None else _text(reason[:_MAX_REASON]),
            "cache": ctx.cache,
            "cost_usd": format_usd(cost),
            "outcome": outcome,
            "error_type": None if error is None else type(error).__name__,
            "pii_counts": (
                {_text(str(k)): int(v) for k, v in counts.items()}
                if isinstance(counts, dict)
                else {}
            ),
            "policies": [_text(str(r)) for r in rules] if isinstance(rules, list) else [],
            "prompt": self._prompt(request.prompt_text) if self.settings.store_prompts else None,
        }

    def _prompt(self, text: str) -> str:
        """The prompt as stored: encrypted when there is an encryptor."""
        text = _text(text)
        return text if self._encryptor is None else self._encryptor.encrypt_text(text)

    # -- flushing, closing, verifying ------------------------------------------------------------

    def flush(self, timeout_s: float | None = 30.0) -> bool:
        """Append everything queued so far; whether it all reached the database."""
        return self._writer.flush(timeout_s)

    async def aflush(self, timeout_s: float | None = 30.0) -> bool:
        """Async twin of :meth:`flush` (waits in a worker thread, not on the event loop)."""
        return await asyncio.to_thread(self._writer.flush, timeout_s)

    def close(self, timeout_s: float = 30.0) -> bool:
        """Append what is queued and stop (idempotent). Entries the database does not take
        in time go to the spool and are appended by the next audit log on this database.
        Whether everything reached the database."""
        if self._closed:
            return True
        self._closed = True
        return self._writer.stop(timeout_s)

    async def aclose(self, timeout_s: float = 30.0) -> bool:
        """Async twin of :meth:`close`."""
        return await asyncio.to_thread(self.close, timeout_s)

    def verify(self, expect_head: tuple[int, str] | None = None) -> VerifyResult:
        """Flush, then verify the whole chain with this log's key."""
        self.flush()
        return self._writer.verify(expect_head)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog(url={safe_url(self.url)!r}, keyed={self.keyed})"
