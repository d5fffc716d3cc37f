"""Sync entry points as thin wrappers: coroutines run on one background event loop per muxer.

A private loop in a daemon thread (rather than ``asyncio.run`` per call) keeps sync calls cheap,
lets them be made from any thread, also from inside a running event loop (e.g. a notebook), and
keeps loop-bound resources (HTTP clients) alive between calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["SyncBridge"]

T = TypeVar("T")


#: how long a loop being closed gives the calls it cancels to end
_CANCEL_GRACE_S = 5.0
#: the message of the cancellation of a call still running when the bridge closes
_CLOSING = "the muxer was closed while this sync call was running"


class SyncBridge:
    """Runs coroutines to completion from synchronous code.

    A call still running when the bridge closes is cancelled (after :meth:`drain`, when the
    closer waits for it first) and raises ``RuntimeError`` in its thread: it never hangs.
    """

    def __init__(self, name: str = "modelmuxer-sync") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        #: the calls running on the loop (touched on the loop's thread only)
        self._calls: set[asyncio.Task[Any]] = set()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                return self._start_loop()
            return self._loop

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        """A new loop in a daemon thread (the caller holds the lock)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop = loop
        return loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the bridge's loop and return its result (or raise its error)."""
        loop = self._ensure_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("a sync ModelMuxer call cannot be made from the muxer's own loop")
        with self._lock:  # submitted before any close() can schedule the loop's stop
            if loop.is_closed():
                loop = self._start_loop()
            future = asyncio.run_coroutine_threadsafe(self._tracked(coro), loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self._loop is loop:
                raise
            raise RuntimeError(f"{_CLOSING}; it was cancelled before it started") from None

    async def drain(self, timeout_s: float) -> None:
        """On the bridge's loop: wait up to ``timeout_s`` for the other calls running on it,
        then cancel those still running and wait for them to end (their clean-up runs)."""
        others = self._calls - {asyncio.current_task()}
        if not others:
            return
        _, late = await asyncio.wait(others, timeout=timeout_s)
        for task in late:
            task.cancel(_CLOSING)
        if late:
            await asyncio.wait(late, timeout=_CANCEL_GRACE_S)

    async def _tracked(self, coro: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            return await coro
        except asyncio.CancelledError as exc:
            if exc.args[:1] != (_CLOSING,):
                raise
            raise RuntimeError(f"{_CLOSING}; it was cancelled") from None
        finally:
            self._calls.discard(task)

    def iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        """Iterate an async iterator from sync code; closing the iterator closes the stream."""
        try:
            while True:
                try:
                    yield self.run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                self.run(aclose())

    @property
    def running(self) -> bool:
        """Whether the background loop has been started (by a sync call) and not closed."""
        with self._lock:
            return self._loop is not None and not self._loop.is_closed()

    def close(self) -> None:
        """Stop the background loop (idempotent); calls still running on it are cancelled."""
        with self._lock:
            loop, self._loop = self._loop, None
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until :meth:`SyncBridge.close` stops it, then cancel what still runs on it
    (its callers get an error rather than wait forever) and release its resources."""
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel(_CLOSING)
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=_CANCEL_GRACE_S))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)
