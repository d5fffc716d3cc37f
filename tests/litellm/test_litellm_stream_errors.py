"""``end_on_stream_error``: a stream LiteLLM returned reports the error its caller gets, once,
and stays the object it was (its type, its attributes); streams it cannot watch are left
alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from modelmuxer_litellm.lifecycle import end_on_stream_error

pytestmark = pytest.mark.litellm


class Stream:
    """An async iterator over ``items``, raising any exception among them in its turn."""

    def __init__(self, items: Iterable[object]) -> None:
        self._items = iter(items)
        self.note = "kept"

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> object:
        item = next(self._items, StopAsyncIteration())
        if isinstance(item, BaseException):
            raise item
        return item


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


async def read(stream: object) -> list[object]:
    return [item async for item in stream]  # type: ignore[attr-defined]


async def test_an_error_is_reported_once_and_raised_as_it_was() -> None:
    boom, again = RuntimeError("boom"), RuntimeError("again")
    stream = Stream(["a", boom, again])
    seen: list[BaseException] = []
    assert end_on_stream_error(stream, seen.append)
    assert await anext(stream) == "a"
    with pytest.raises(RuntimeError) as first:
        await anext(stream)
    assert first.value is boom
    with pytest.raises(RuntimeError, match="again"):
        await anext(stream)
    assert seen == [boom]


async def test_the_end_of_the_stream_is_not_an_error() -> None:
    stream = Stream(["a", "b"])
    seen: list[BaseException] = []
    assert end_on_stream_error(stream, seen.append)
    assert await read(stream) == ["a", "b"]
    assert await read(stream) == []
    assert seen == []


async def test_a_cancelled_read_is_reported_like_any_error() -> None:
    cancelled = asyncio.CancelledError()
    stream = Stream([cancelled])
    seen: list[BaseException] = []
    assert end_on_stream_error(stream, seen.append)
    with pytest.raises(asyncio.CancelledError):
        await read(stream)
    assert seen == [cancelled]


def test_the_stream_keeps_its_type_and_attributes() -> None:
    stream = Stream([])
    assert end_on_stream_error(stream, lambda _: None)
    assert isinstance(stream, Stream)
    assert type(stream).__name__ == "Stream"
    assert type(stream).__qualname__ == Stream.__qualname__
    assert stream.note == "kept"
    other = Stream([])
    assert end_on_stream_error(other, lambda _: None)
    assert type(other) is type(stream)  # one subclass per stream class


def test_streams_it_cannot_watch_are_left_as_they_are() -> None:
    slotted, delegating = Slotted(), Delegating()
    assert not end_on_stream_error(slotted, lambda _: None)
    assert type(slotted) is Slotted
    assert not end_on_stream_error(delegating, lambda _: None)
    assert type(delegating) is Delegating
    assert "_modelmuxer_on_error" not in vars(delegating)
    assert not end_on_stream_error(["not", "a", "stream"], lambda _: None)
    assert not end_on_stream_error(None, lambda _: None)


async def test_a_failing_reporter_does_not_hide_the_stream_error() -> None:
    def broken(_: BaseException) -> None:
        raise ValueError("reporter")

    stream = Stream([RuntimeError("boom")])
    assert end_on_stream_error(stream, broken)
    with pytest.raises(RuntimeError, match="boom"):
        await read(stream)
