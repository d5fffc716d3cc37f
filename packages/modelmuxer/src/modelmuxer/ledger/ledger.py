"""The cost ledger: a plugin that records every model call, durably, off the hot path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from modelmuxer.crypto import is_encrypted, reveal
from modelmuxer.errors import DecryptionError
from modelmuxer.hookspecs import hookimpl
from modelmuxer.ledger.capture import PromptCapture
from modelmuxer.ledger.errors import LedgerError, LedgerUnavailable, safe_url
from modelmuxer.ledger.outbox import Outbox
from modelmuxer.ledger.reports import BudgetLimit, GroupBy, SpendReport, aspend_report
from modelmuxer.ledger.rows import Pricing
from modelmuxer.ledger.settings import LedgerSettings
from modelmuxer.ledger.store import TrainingRow, add_feedback, training_rows
from modelmuxer.ledger.writer import LedgerWriter
from modelmuxer.types import CallRecord, ModelCard

if TYPE_CHECKING:
    from modelmuxer.crypto import Encryptor
    from modelmuxer.transport import PostgresTLS

__all__ = ["CostLedger"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.ledger")


class CostLedger:
    """Records every model call (successes, cascade steps, failures, cancelled streams, cache
    hits) in a database: SQLite in a file by default, PostgreSQL by url.

    Register it as a plugin (a :class:`~modelmuxer.Muxer` does when ``settings.ledger.enabled``)::

        ledger = CostLedger(LedgerSettings(url="postgresql+asyncpg://..."), catalog=muxer.catalog)
        muxer.plugins.register(ledger)

    ``modelmuxer_record`` appends the record to a local outbox file and queues it; a background
    thread inserts batches and replays, at start-up, whatever a killed process left in the
    outbox. ``catalog``: the cards to price with (exact decimal costs and the counterfactual
    "strongest model" / "named model" costs); without it the records' float costs are kept,
    rounded to 1e-12 USD. With ``store_prompts``, also register :attr:`prompt_capture`.
    Call :meth:`close` (or :meth:`aclose`) to flush.

    ``tls``: how a PostgreSQL database is reached (the muxer passes ``settings.tls.postgres``).
    ``encryptor``: the outbox lines and the stored prompts are encrypted at rest (the muxer
    passes the one ``settings.encryption`` builds); prompts read back for training are
    decrypted, and one that cannot be is left out (``None``) with an error in the log.
    """

    def __init__(
        self,
        settings: LedgerSettings | None = None,
        *,
        catalog: Iterable[ModelCard] = (),
        tls: PostgresTLS | None = None,
        encryptor: Encryptor | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LedgerSettings(enabled=True)
        self.url = self.settings.resolved_url()
        self._encryptor = encryptor
        self._outbox = Outbox(self.settings.resolved_outbox_dir(), encryptor)
        self._writer = LedgerWriter(self.settings, self._outbox, Pricing(catalog), tls=tls)
        #: registered beside the ledger when prompts are stored; ``None`` otherwise
        self.prompt_capture: PromptCapture | None = (
            PromptCapture() if self.settings.store_prompts else None
        )
        self._batch_size = self.settings.batch_size
        self._closed = False
        self._writer.start()

    # -- the hot path ----------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """Append ``record`` to the outbox and queue it (never raises, never waits on I/O
        beyond one local ``write``)."""
        if self._closed:
            _log.warning("ledger: closed; record %s/%d dropped", record.request_id, record.attempt)
            return
        capture = self.prompt_capture
        prompt = None if capture is None else capture.get(record.request_id)
        try:
            self._outbox.append(self._outbox.encode(record, prompt), (record, prompt))
        except Exception as exc:  # a full disk, unserialisable features: never fail the request
            _log.error("ledger: record %s/%d not kept: %s", record.request_id, record.attempt, exc)
            return
        if self._outbox.pending() >= self._batch_size:
            self._writer.wake()

    # -- flushing and closing --------------------------------------------------------------------

    def flush(self, timeout_s: float | None = 30.0) -> bool:
        """Write everything recorded so far; whether it all reached the database."""
        return self._writer.submit(self._flush).result(timeout_s)

    async def aflush(self) -> bool:
        """Async twin of :meth:`flush`."""
        return await asyncio.wrap_future(self._writer.submit(self._flush))

    async def _flush(self, engine: AsyncEngine) -> bool:
        return await self._writer.cycle(force=True)

    def close(self, timeout_s: float = 30.0) -> bool:
        """Flush and stop (idempotent). Records the database did not take stay in the outbox
        and are replayed by the next ledger on it. Whether everything was written."""
        if self._closed:
            return True
        self._closed = True
        return self._writer.stop(timeout_s)

    async def aclose(self, timeout_s: float = 30.0) -> bool:
        """Async twin of :meth:`close` (waits in a worker thread, not on the event loop)."""
        return await asyncio.to_thread(self.close, timeout_s)

    def __enter__(self) -> CostLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- feedback and training data --------------------------------------------------------------

    async def arecord_feedback(
        self,
        request_id: str,
        score: float,
        *,
        attempt: int | None = None,
        kind: str = "score",
        comment: str | None = None,
    ) -> None:
        """Store a score in [0, 1] for a recorded request (thumbs up = 1, down = 0).

        ``attempt`` names one call of the request; ``None``: the request's answer.

        :raises InvalidFeedback: a score outside [0, 1], or an empty ``kind``.
        :raises UnknownRequest: the ledger has no call of ``request_id`` (and ``attempt``).
        :raises LedgerUnavailable: the database cannot be reached.
        """
        work = self._feedback_work(request_id, score, attempt, kind, comment)
        await self._call(work)

    def record_feedback(
        self,
        request_id: str,
        score: float,
        *,
        attempt: int | None = None,
        kind: str = "score",
        comment: str | None = None,
    ) -> None:
        """Sync twin of :meth:`arecord_feedback`."""
        self._call_sync(self._feedback_work(request_id, score, attempt, kind, comment))

    def _feedback_work(
        self, request_id: str, score: float, attempt: int | None, kind: str, comment: str | None
    ) -> Callable[[AsyncEngine], Awaitable[None]]:
        async def work(engine: AsyncEngine) -> None:
            await self._writer.cycle(force=True)  # the request's records may still be queued
            await add_feedback(
                engine, request_id, score, attempt=attempt, kind=kind, comment=comment
            )

        return work

    async def atraining_rows(self, since: datetime | None = None) -> list[TrainingRow]:
        """Every scored request (feedback given at or after ``since``) with the model that
        answered it, its query features and (when stored) its prompt."""
        return await self._call(self._training_work(since))

    def training_rows(self, since: datetime | None = None) -> list[TrainingRow]:
        """Sync twin of :meth:`atraining_rows`."""
        return self._call_sync(self._training_work(since))

    async def areport(
        self,
        *,
        by: GroupBy = "model",
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
        budgets: Sequence[BudgetLimit] = (),
    ) -> SpendReport:
        """The spend report over this ledger (see :func:`~modelmuxer.ledger.reports.aspend_report`),
        after writing what is still pending, so it covers every call recorded so far."""
        return await self._call(self._report_work(by, since, until, where, budgets))

    def report(
        self,
        *,
        by: GroupBy = "model",
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
        budgets: Sequence[BudgetLimit] = (),
    ) -> SpendReport:
        """Sync twin of :meth:`areport`."""
        return self._call_sync(self._report_work(by, since, until, where, budgets))

    def _report_work(
        self,
        by: GroupBy,
        since: datetime | None,
        until: datetime | None,
        where: Mapping[str, str] | None,
        budgets: Sequence[BudgetLimit],
    ) -> Callable[[AsyncEngine], Awaitable[SpendReport]]:
        async def work(engine: AsyncEngine) -> SpendReport:
            await self._writer.cycle(force=True)
            return await aspend_report(
                engine, by=by, since=since, until=until, where=where, budgets=budgets
            )

        return work

    def _training_work(
        self, since: datetime | None
    ) -> Callable[[AsyncEngine], Awaitable[list[TrainingRow]]]:
        async def work(engine: AsyncEngine) -> list[TrainingRow]:
            await self._writer.cycle(force=True)
            return self._revealed(await training_rows(engine, since))

        return work

    def _revealed(self, rows: list[TrainingRow]) -> list[TrainingRow]:
        """``rows`` with their stored prompts decrypted; one that cannot be is ``None``."""
        out, failed = [], 0
        first: DecryptionError | None = None
        for row in rows:
            if row.prompt is not None and is_encrypted(row.prompt):  # else: stored in clear
                try:
                    raw = row.prompt.encode("utf-8", "surrogatepass")
                    data = reveal(raw, self._encryptor, what="stored prompt")
                    row = replace(row, prompt=data.decode("utf-8", "surrogatepass"))
                except DecryptionError as exc:
                    failed += 1
                    first = first or exc
                    row = replace(row, prompt=None)
            out.append(row)
        if first is not None:
            _log.error("ledger: %d stored prompt(s) left out: %s", failed, first)
        return out

    async def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """Run ``work(engine)`` on the ledger's own loop and engine (e.g. a report query)."""
        return await self._call(work)

    def run_sync(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """Sync twin of :meth:`run`."""
        return self._call_sync(work)

    async def _call(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        if self._closed:
            raise LedgerError("the ledger is closed")
        try:
            return await asyncio.wrap_future(self._writer.submit(work))
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc

    def _call_sync(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        if self._closed:
            raise LedgerError("the ledger is closed")
        try:
            return self._writer.submit(work).result()
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return f"CostLedger(url={safe_url(self.url)!r})"
