"""``watch_stream``: a stream LiteLLM returned reports the end only its reader sees (an error
raised to it, an early close or drop), once, and stays the object it was (its type, its
attributes); streams it cannot watch are left alone."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterable

import pytest

from modelmuxer_litellm import streams
from modelmuxer_litellm.streams import StreamWatch, watch_stream

pytestmark = pytest.mark.litellm


class Stream:
    """An async iterator over ``items``, raising any exception among them in its turn."""

    def __init__(self, items: Iterable[object]) -> None:
        self._items = iter(items)
        self.note = "kept"
        self.closed = False

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> object:
        item = next(self._items, StopAsyncIteration())
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        self.closed = True


class Slotted:
    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    def __aiter__(self) -> Slotted:
        return self

    async def __anext__(self) -> object:
        raise StopAsyncIteration


class Delegating:
    """An async iterable whose iterator is another object."""

    def __init__(self) -> None:
        self.inner = Stream([1])

    def __aiter__(self) -> Stream:
        return self.inner

    async def __anext__(self) -> object:  # never called by ``async for``
        raise AssertionError


class Seen:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.abandoned: list[object] = []

    def watch(self) -> StreamWatch:
        return StreamWatch(self.errors.append, self.abandoned.append)


async def read(stream: object) -> list[object]:
    return [item async for item in stream]  # type: ignore[attr-defined]


async def test_an_error_is_reported_once_and_raised_as_it_was() -> None:
    boom, again = RuntimeError("boom"), RuntimeError("again")
    stream, seen = Stream(["a", boom, again]), Seen()
    assert watch_stream(stream, seen.watch())
    assert await anext(stream) == "a"
    with pytest.raises(RuntimeError) as first:
        await anext(stream)
    assert first.value is boom
    with pytest.raises(RuntimeError, match="again"):
        await anext(stream)
    await stream.aclose()
    assert seen.errors == [boom]
    assert seen.abandoned == []  # one end per stream
    assert stream.closed


async def test_a_stream_read_to_its_end_reports_nothing() -> None:
    stream, seen = Stream(["a", "b"]), Seen()
    assert watch_stream(stream, seen.watch())
    assert await read(stream) == ["a", "b"]
    await stream.aclose()
    del stream
    gc.collect()
    assert (seen.errors, seen.abandoned) == ([], [])


async def test_a_stream_closed_before_its_end_is_reported_abandoned_once() -> None:
    stream, seen = Stream(["a", "b"]), Seen()
    assert watch_stream(stream, seen.watch())
    assert await anext(stream) == "a"
    await stream.aclose()
    assert stream.closed  # its own aclose still runs
    await stream.aclose()
    assert seen.abandoned == [stream]
    assert seen.errors == []


async def test_a_stream_dropped_before_its_end_is_reported_abandoned() -> None:
    seen = Seen()
    ids: list[int] = []

    async def start() -> None:
        stream = Stream(["a", "b"])
        assert watch_stream(stream, StreamWatch(seen.errors.append, lambda s: ids.append(id(s))))
        await anext(stream)

    await start()
    gc.collect()
    assert len(ids) == 1
    assert seen.errors == []


async def test_a_cancelled_read_is_the_reader_stopping() -> None:
    """A reader cancelled while it waits for a chunk (the proxy's, when its client goes away)
    stopped reading: abandoned, once, and the cancellation goes on."""
    stream, seen = Stream([1, asyncio.CancelledError(), 2]), Seen()
    assert watch_stream(stream, seen.watch())
    with pytest.raises(asyncio.CancelledError):
        await read(stream)
    await stream.aclose()  # the proxy closes it after
    assert seen.abandoned == [stream]
    assert seen.errors == []


async def test_without_an_abandon_report_a_cancelled_read_is_an_error() -> None:
    cancelled = asyncio.CancelledError()
    stream, errors = Stream([cancelled]), list[BaseException]()
    assert watch_stream(stream, StreamWatch(errors.append))
    with pytest.raises(asyncio.CancelledError):
        await read(stream)
    assert errors == [cancelled]


def test_the_stream_keeps_its_type_and_attributes() -> None:
    stream = Stream([])
    assert watch_stream(stream, Seen().watch())
    assert isinstance(stream, Stream)
    assert type(stream).__name__ == "Stream"
    assert type(stream).__qualname__ == Stream.__qualname__
    assert stream.note == "kept"
    other = Stream([])
    assert watch_stream(other, Seen().watch())
    assert type(other) is type(stream)  # one subclass per stream class
    assert watch_stream(stream, Seen().watch())  # watched again: no subclass of the subclass
    assert type(stream).__mro__[1] is Stream


async def test_a_stream_watched_again_reports_to_the_latest_watch() -> None:
    stream, first, latest = Stream([RuntimeError("boom")]), Seen(), Seen()
    assert watch_stream(stream, first.watch())
    assert watch_stream(stream, latest.watch())
    with pytest.raises(RuntimeError):
        await read(stream)
    assert (len(first.errors), len(latest.errors)) == (0, 1)


def test_streams_it_cannot_watch_are_left_as_they_are() -> None:
    slotted, delegating = Slotted(), Delegating()
    assert not watch_stream(slotted, Seen().watch())
    assert type(slotted) is Slotted
    assert not watch_stream(delegating, Seen().watch())
    assert type(delegating) is Delegating
    assert "_modelmuxer_watch" not in vars(delegating)
    assert not watch_stream(["not", "a", "stream"], Seen().watch())
    assert not watch_stream(None, Seen().watch())


async def test_a_failing_reporter_does_not_hide_the_stream_error() -> None:
    def broken(_: object) -> None:
        raise ValueError("reporter")

    stream = Stream([RuntimeError("boom")])
    assert watch_stream(stream, StreamWatch(broken, broken))
    with pytest.raises(RuntimeError, match="boom"):
        await read(stream)
    other = Stream(["a"])
    assert watch_stream(other, StreamWatch(broken, broken))
    await other.aclose()  # the reporter's error is logged, not raised
    assert other.closed


def test_classes_made_per_call_do_not_pile_up() -> None:
    """LiteLLM before 1.110 defines its Router's stream class inside each call."""
    for _ in range(3 * streams._MAX_SUBCLASSES):
        kind = type("PerCall", (Stream,), {})
        assert watch_stream(kind([]), Seen().watch())
    assert len(streams._SUBCLASSES) <= streams._MAX_SUBCLASSES


def test_streams_are_watched_from_many_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    kinds = [type(f"Kind{i}", (Stream,), {}) for i in range(2 * streams._MAX_SUBCLASSES)]

    def watch(i: int) -> bool:
        stream = kinds[i % len(kinds)]([])
        return watch_stream(stream, Seen().watch()) and isinstance(stream, kinds[i % len(kinds)])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(watch, range(4000)))
    assert len(streams._SUBCLASSES) <= streams._MAX_SUBCLASSES


async def test_call_on_loop_runs_now_on_its_loop_and_on_the_loops_thread_from_another() -> None:
    loop = asyncio.get_running_loop()
    threads: list[int] = []
    assert streams.call_on_loop(loop, lambda: threads.append(threading.get_ident()))
    assert threads == [threading.get_ident()]  # on the loop's own thread: at once
    assert await asyncio.to_thread(
        streams.call_on_loop, loop, lambda: threads.append(threading.get_ident())
    )
    for _ in range(10):
        if len(threads) == 2:
            break
        await asyncio.sleep(0)
    assert threads == [threading.get_ident()] * 2  # from another thread: run by the loop


def test_call_on_loop_says_so_when_the_loop_is_closed() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    ran: list[str] = []
    assert not streams.call_on_loop(loop, lambda: ran.append("never"))
    assert ran == []
