"""The audit log's background writer: its own thread and event loop, batched appends."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

from modelmuxer.audit.chain import Body
from modelmuxer.audit.settings import AuditSettings
from modelmuxer.audit.spool import Spool, SpoolFile
from modelmuxer.audit.store import append_entries
from modelmuxer.audit.verify import VerifyResult, averify_chain
from modelmuxer.ledger._background import BackgroundWriter
from modelmuxer.ledger.errors import safe_url
from modelmuxer.ledger.migrate import aupgrade

if TYPE_CHECKING:
    from modelmuxer.transport import PostgresTLS

__all__ = ["AuditWriter"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.audit")


class AuditWriter(BackgroundWriter):
    """Appends queued entries from a daemon thread; :meth:`put` is all the request path does.
    ``tls``: how a PostgreSQL database is reached."""

    def __init__(
        self,
        settings: AuditSettings,
        url: str,
        key: bytes | None,
        spool: Spool,
        *,
        tls: PostgresTLS | None = None,
    ) -> None:
        self._settings = settings
        self._url = url
        self._key = key
        self._spool = spool
        self._pending: list[Body] = []  # appended by requests, removed from the front here
        self._lock = threading.Lock()
        self._spooled: list[SpoolFile] | None = None  # None: not looked at yet
        self._migrated = not settings.auto_migrate
        self._retry_at = 0.0
        self._down_since: float | None = None
        super().__init__(
            url, tls=tls, flush_interval_s=settings.flush_interval_s, thread_name="modelmuxer-audit"
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def stop(self, timeout_s: float) -> bool:
        """Append what is queued, spool what cannot be, stop the thread; whether all of it
        reached the database."""
        if not self._thread.is_alive():
            return not self._pending
        return self._stop(self._final, timeout_s, self._close_failed)

    def _close_failed(self, timed_out: bool) -> None:
        if timed_out:
            _log.warning("audit: appending on close timed out; the rest goes to the spool")
        else:
            _log.exception("audit: appending on close failed; the rest goes to the spool")
        self._spool_pending()

    async def _final(self) -> bool:
        flushed = await self.cycle(force=True)
        async with self._cycle_lock:
            self._spool_pending()
            for spooled in self._spooled or ():
                self._spool.release(spooled)  # left for the next audit log
            self._spooled = []
        return flushed

    def _spool_pending(self) -> None:
        with self._lock:
            left, self._pending = self._pending, []
        if left:
            path = self._spool.save(left)
            _log.warning(
                "audit: %d entr%s kept in %s until %s takes them",
                len(left),
                "y" if len(left) == 1 else "ies",
                path,
                safe_url(self._url),
            )

    # -- the queue -------------------------------------------------------------------------------

    def put(self, body: Body) -> None:
        """Queue ``body``; wake the writer when a batch is full."""
        with self._lock:
            self._pending.append(body)
            full = len(self._pending) >= self._settings.batch_size
        if full:
            self.wake()

    def submit(self, work: Callable[[], Awaitable[T]]) -> Future[T]:
        """Run ``work()`` on the writer's loop."""
        return self._on_loop(work)

    def flush(self, timeout_s: float | None) -> bool:
        """Append everything queued so far; whether it all reached the database."""
        if not self._thread.is_alive():
            return not self._pending
        return self.submit(lambda: self.cycle(force=True)).result(timeout_s)

    def verify(self, expect_head: tuple[int, str] | None) -> VerifyResult:
        """Verify the chain on the writer's engine."""
        return self.submit(
            lambda: averify_chain(self._engine, key=self._key, expect_head=expect_head)
        ).result()

    # -- the loop's work -------------------------------------------------------------------------

    async def cycle(self, *, force: bool = False) -> bool:
        """Append the spooled entries (first time), then everything queued, batch by batch.

        :return: whether everything queued so far reached the database.
        """
        async with self._cycle_lock:
            if not force and time.monotonic() < self._retry_at:
                return False
            try:
                await self._drain()
            except Exception as exc:  # unreachable, restarting, refusing: retry later
                self._went_down(exc)
                return False
        if self._down_since is not None:
            _log.warning(
                "audit: %s is back after %.1f s",
                safe_url(self._url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        return True

    async def _drain(self) -> None:
        if not self._migrated:
            await aupgrade(self._engine)
            self._migrated = True
        if self._spooled is None:
            self._spooled = await asyncio.to_thread(self._spool.adopt)
        size = self._settings.batch_size
        while self._spooled:
            spooled = self._spooled[0]
            while spooled.bodies:  # a batch that went in is not appended again on a retry
                await append_entries(self._engine, spooled.bodies[:size], self._key)
                del spooled.bodies[:size]
            self._spool.done(self._spooled.pop(0))
        while True:
            with self._lock:
                batch = self._pending[:size]
            if not batch:
                return
            await append_entries(self._engine, batch, self._key)
            with self._lock:
                del self._pending[: len(batch)]

    def _went_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            _log.warning(
                "audit: cannot append to %s (%s: %s); %d entries wait in memory",
                safe_url(self._url),
                type(exc).__name__,
                exc,
                len(self._pending),
            )
        self._retry_at = now + self._settings.retry_interval_s
