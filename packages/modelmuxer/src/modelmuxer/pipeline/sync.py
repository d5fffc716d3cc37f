"""Sync entry points as thin wrappers: coroutines run on one background event loop per muxer.

A private loop in a daemon thread (rather than ``asyncio.run`` per call) keeps sync calls cheap,
lets them be made from any thread, also from inside a running event loop (e.g. a notebook), and
keeps loop-bound resources (HTTP clients) alive between calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["SyncBridge"]

T = TypeVar("T")


class SyncBridge:
    """Runs coroutines to completion from synchronous code."""

    def __init__(self, name: str = "modelmuxer-sync") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop = loop
            return self._loop

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
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

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
        """Stop the background loop (idempotent)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until :meth:`SyncBridge.close` stops it, then release its resources."""
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)
