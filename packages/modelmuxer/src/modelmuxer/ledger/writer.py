"""The background writer: its own thread and event loop, batched idempotent inserts.

The writer seals the outbox's current segment, inserts its rows, then deletes it. While the
database is unreachable it keeps the sealed segments (their entries are dropped from memory and
read back from the files later) and retries every ``retry_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from modelmuxer.ledger._background import BackgroundWriter
from modelmuxer.ledger.errors import safe_url
from modelmuxer.ledger.migrate import aupgrade
from modelmuxer.ledger.outbox import Entry, Outbox, Segment
from modelmuxer.ledger.rows import Pricing, record_to_row
from modelmuxer.ledger.settings import LedgerSettings
from modelmuxer.ledger.store import insert_calls

if TYPE_CHECKING:
    from modelmuxer.transport import PostgresTLS

__all__ = ["LedgerWriter"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.ledger")
_ADOPT_EVERY_S = 60.0


class LedgerWriter(BackgroundWriter):
    """Moves outbox entries into the database from a daemon thread with its own event loop.

    ``tls``: how a PostgreSQL database is reached. When the outbox encrypts, so are the prompts
    written to the database (the rest of a row stays queryable).
    """

    def __init__(
        self,
        settings: LedgerSettings,
        outbox: Outbox,
        pricing: Pricing,
        *,
        tls: PostgresTLS | None = None,
    ) -> None:
        self._settings = settings
        self._url = settings.resolved_url()
        self._outbox = outbox
        self._pricing = pricing
        self._segments: list[Segment] = []  # sealed, oldest first
        self._migrated = not settings.auto_migrate
        self._retry_at = 0.0
        self._adopted_at = float("-inf")
        self._down_since: float | None = None
        super().__init__(
            self._url,
            tls=tls,
            flush_interval_s=settings.flush_interval_s,
            thread_name="modelmuxer-ledger",
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def stop(self, timeout_s: float) -> bool:
        """Flush, stop the thread and keep what could not be written for a later replay.

        :return: whether everything reached the database.
        """
        if not self._thread.is_alive():
            return not self._segments
        return self._stop(self._final_flush, timeout_s, _close_failed)

    async def _final_flush(self) -> bool:
        flushed = await self.cycle(force=True)
        async with self._cycle_lock:
            last = self._outbox.close()
            if last is not None:
                self._segments.append(last)
                flushed = await self._drain() and flushed
            for segment in self._segments:
                segment.release()  # replayed by the next ledger on this outbox
            self._segments.clear()
        return flushed

    # -- the loop's work -------------------------------------------------------------------------

    def submit(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> Future[T]:
        """Run ``work(engine)`` on the writer's loop (the engine is bound to it)."""
        return self._on_loop(lambda: work(self._engine))

    async def cycle(self, *, force: bool = False) -> bool:
        """Seal the current segment and write every sealed one, oldest first.

        :return: whether everything sealed so far reached the database.
        """
        async with self._cycle_lock:
            now = time.monotonic()
            if now - self._adopted_at >= _ADOPT_EVERY_S:
                self._adopted_at = now
                self._segments[:0] = self._outbox.adopt_orphans()
            if not force and now < self._retry_at:
                self._outbox.spill()  # down: keep memory bounded, the file has the entries
                return False
            sealed = self._outbox.seal()
            if sealed is not None:
                self._segments.append(sealed)
            return await self._drain()

    async def _drain(self) -> bool:
        try:
            if not self._migrated:
                await aupgrade(self._engine)
                self._migrated = True
        except Exception as exc:
            self._went_down(exc)
            return False
        while self._segments:
            segment = self._segments[0]
            try:
                await self._insert(segment.load())
            except Exception as exc:  # unreachable, restarting, refusing: retry later
                self._went_down(exc)
                return False
            self._segments.pop(0).discard()
        if self._down_since is not None:
            _log.warning(
                "ledger: %s is back after %.1f s; the outbox was replayed",
                safe_url(self._url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        return True

    async def _insert(self, entries: list[Entry]) -> None:
        seal = self._outbox.encryptor
        rows = [
            record_to_row(
                record,
                prompt if seal is None or prompt is None else seal.encrypt_text(prompt),
                self._pricing,
            )
            for record, prompt in entries
        ]
        try:
            await insert_calls(self._engine, rows, self._settings.batch_size)
        except DBAPIError as exc:
            if not _is_bad_data(exc):
                raise
            await self._insert_one_by_one(entries, rows)

    async def _insert_one_by_one(self, entries: list[Entry], rows: list[dict[str, Any]]) -> None:
        """A row the database refuses (e.g. a NUL byte on PostgreSQL) must not block the rest:
        it goes to ``rejected.ndjson`` in the outbox directory (not a segment: never replayed)."""
        for entry, row in zip(entries, rows, strict=True):
            try:
                await insert_calls(self._engine, [row])
            except DBAPIError as exc:
                if not _is_bad_data(exc):
                    raise
                _log.error("ledger: the database refused record %s: %s", row["request_id"], exc)
                await asyncio.to_thread(self._reject, self._outbox.encode(*entry))

    def _reject(self, line: bytes) -> None:
        with Path(self._outbox.directory, "rejected.ndjson").open("ab") as fh:
            fh.write(line)

    def _went_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            _log.warning(
                "ledger: cannot write to %s (%s: %s); records wait in the outbox %s",
                safe_url(self._url),
                type(exc).__name__,
                exc,
                self._outbox.directory,
            )
        self._retry_at = now + self._settings.retry_interval_s
        for segment in self._segments:
            segment.entries = None  # read back from the file on the next try
        self._outbox.spill()


def _is_bad_data(exc: DBAPIError) -> bool:
    """Whether the database refused the data itself (SQLSTATE class 22), not the connection."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(exc, DataError) or str(sqlstate or "").startswith("22")


def _close_failed(timed_out: bool) -> None:
    if timed_out:
        _log.warning("ledger: flush on close timed out; the outbox keeps the records")
    else:  # the outbox has the records
        _log.exception("ledger: flush on close failed; the outbox keeps the records")
