"""A database writer's thread: its own event loop and engine, woken by a timer or on demand.

The ledger's writer and the audit log's share it: each runs :meth:`BackgroundWriter.cycle`
every ``flush_interval_s`` (or when :meth:`~BackgroundWriter.wake` asks), on a daemon thread
whose event loop owns the SQLAlchemy engine, so the request path never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from modelmuxer.ledger.engine import make_engine

if TYPE_CHECKING:
    from modelmuxer.transport import PostgresTLS

__all__ = ["BackgroundWriter"]

T = TypeVar("T")


class BackgroundWriter(ABC):
    """Runs :meth:`cycle` on a daemon thread with its own event loop and engine for ``url``."""

    def __init__(
        self,
        url: str,
        *,
        tls: PostgresTLS | None,
        flush_interval_s: float,
        thread_name: str,
    ) -> None:
        self._flush_interval_s = flush_interval_s
        self._stopping = False
        self._wake_pending = False
        self._started = threading.Event()
        self._cycle_lock = asyncio.Lock()  # binds to the writer's loop at first use
        self._wake = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._engine: AsyncEngine = make_engine(url, tls=tls)
        self._thread = threading.Thread(target=self._main, name=thread_name, daemon=True)

    @abstractmethod
    async def cycle(self, *, force: bool = False) -> bool:
        """One round of writing (on the writer's loop); whether everything queued was written."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        done = self._loop.create_task(self._run())
        self._started.set()
        self._loop.run_until_complete(done)
        self._loop.run_until_complete(self._engine.dispose())
        self._loop.close()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
            self._wake.clear()
            self._wake_pending = False
            await self.cycle()

    def _stop(
        self,
        final: Callable[[], Awaitable[bool]],
        timeout_s: float,
        failed: Callable[[bool], None],
    ) -> bool:
        """Run ``final()`` on the loop, then stop the thread; whether ``final`` reported all
        written. ``failed(timed_out)`` is called (inside the ``except`` clause, so it may log
        the exception) when ``final`` timed out or raised: closing never raises."""
        flushed = False
        try:
            flushed = self._on_loop(final).result(timeout_s)
        except TimeoutError:
            failed(True)
        except Exception:  # closing must not fail the application
            failed(False)
        self._loop.call_soon_threadsafe(self._request_stop)
        self._thread.join(timeout_s)
        return flushed

    def _request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # -- the loop's work -------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask for a cycle now (a full batch is waiting); cheap to call repeatedly."""
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake.set)

    def _on_loop(self, work: Callable[[], Awaitable[T]]) -> Future[T]:
        """Run ``work()`` on the writer's loop."""

        async def call() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop)
