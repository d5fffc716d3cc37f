"""Watching the streams a LiteLLM Router returns: the end of a stream its reader does not finish.

LiteLLM reports a streamed call when its stream ends (its last chunk read) or fails inside
LiteLLM. Two ends reach only the reader: an error the stream raises to the reader (LiteLLM
retries a stream that breaks before its first chunk and may splice a fallback into a stream
that breaks later; what it does not take over is raised to the reader), and a reader that stops
early (closes the stream, drops it, or is cancelled while it waits for a chunk, as the LiteLLM
proxy's reader is when its client disconnects). :func:`watch_stream` has a stream tell ModelMuxer of
both, so the request ends (``modelmuxer_request_end``) and an abandoned call is recorded with
the tokens received so far, as the core pipeline does for its own streams.

The stream stays the object LiteLLM made, with its attributes and its type (``isinstance``
checks, LiteLLM's proxy, ``stream_chunk_builder`` keep working): its class is switched to a
subclass of its own class that wraps ``__anext__``, ``aclose`` and ``__del__``, and adds no
field.

:func:`partial_answer` rebuilds what an abandoned stream answered, for its record;
:func:`call_on_loop` runs its follow-up (settling the budget) on the loop it was read on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["StreamWatch", "call_on_loop", "partial_answer", "relay", "watch_stream"]

log = logging.getLogger("modelmuxer_litellm")

#: the attribute of a watched stream holding its :class:`StreamWatch`
_WATCH: Final = "_modelmuxer_watch"
#: set on the watching subclasses
_WATCHING: Final = "_modelmuxer_watching"
#: stream classes and their watching subclasses, the most recent first (bounded: LiteLLM
#: before 1.110 defines its Router's stream class inside the call, one per stream)
_SUBCLASSES: OrderedDict[type, type] = OrderedDict()
_MAX_SUBCLASSES: Final = 64
#: streams are watched on any loop's thread (the sync bridge's too)
_LOCK: Final = threading.Lock()


@dataclass(frozen=True, slots=True)
class StreamWatch:
    """What a watched stream calls, at most once and only one of them: ``on_error(exc)`` when
    reading it raises ``exc`` to the reader; ``on_abandon(stream)`` when its reader stops
    before its end: closes it (``aclose``), drops it (collected), or is cancelled while waiting
    for a chunk (the LiteLLM proxy's reader, when its client disconnects; a task cancelled by
    a timeout). Neither is called once the stream has ended. Without ``on_abandon``, a
    cancelled read is reported to ``on_error``."""

    on_error: Callable[[BaseException], None]
    on_abandon: Callable[[Any], None] | None = None


def _take(stream: Any) -> StreamWatch | None:
    """The stream's watch, removed (so that only the first end is reported)."""
    try:
        watch: StreamWatch | None = stream.__dict__.pop(_WATCH, None)
    except Exception:  # an interpreter shutting down, say
        return None
    return watch


def _report(what: Callable[[Any], None], argument: Any) -> None:
    try:
        what(argument)
    except Exception:  # the reader gets the stream's own outcome, not the reporter's error
        log.exception("modelmuxer_litellm: reporting the end of a stream raised")


def _subclass(kind: type) -> type:
    """``kind`` with ``__anext__``, ``aclose`` and ``__del__`` that report to the stream's
    watch; no new fields (same layout, so an instance's class can be switched to it)."""
    with _LOCK:
        found = _SUBCLASSES.get(kind)
        if found is not None:
            _SUBCLASSES.move_to_end(kind, last=False)
            return found
    anext_of = kind.__anext__  # type: ignore[attr-defined]
    aclose_of = getattr(kind, "aclose", None)
    del_of = getattr(kind, "__del__", None)

    async def __anext__(self: Any) -> Any:
        try:
            return await anext_of(self)
        except StopAsyncIteration:
            _take(self)  # ended: LiteLLM reports it
            raise
        except asyncio.CancelledError as exc:  # the reader's task was cancelled: it stopped
            watch = _take(self)
            if watch is not None and watch.on_abandon is not None:
                _report(watch.on_abandon, self)
            elif watch is not None:
                _report(watch.on_error, exc)
            raise
        except BaseException as exc:
            watch = _take(self)
            if watch is not None:
                _report(watch.on_error, exc)
            raise

    async def aclose(self: Any) -> None:
        watch = _take(self)
        if watch is not None and watch.on_abandon is not None:
            _report(watch.on_abandon, self)
        if aclose_of is not None:
            await aclose_of(self)

    def __del__(self: Any) -> None:
        watch = _take(self)
        if watch is not None and watch.on_abandon is not None:
            _report(watch.on_abandon, self)
        if del_of is not None:
            del_of(self)

    found = type(
        kind.__name__,
        (kind,),
        {
            "__anext__": __anext__,
            "aclose": aclose,
            "__del__": __del__,
            "__slots__": (),
            _WATCHING: True,
            "__module__": kind.__module__,
            "__qualname__": kind.__qualname__,
            "__doc__": kind.__doc__,
        },
    )
    with _LOCK:
        _SUBCLASSES[kind] = found  # two threads making one: either serves
        _SUBCLASSES.move_to_end(kind, last=False)
        while len(_SUBCLASSES) > _MAX_SUBCLASSES:
            _SUBCLASSES.popitem(last=True)
    return found


def watch_stream(stream: object, watch: StreamWatch) -> bool:
    """Have ``stream`` (what ``Router.acompletion(stream=True)`` returned) report its end to
    ``watch``; ``False`` when it cannot be watched (no ``__anext__``, no instance ``__dict__``,
    an iterator other than itself, a class that refuses the switch): it is then left as it is.
    """
    kind = type(stream)
    if (
        getattr(kind, "__anext__", None) is None
        or getattr(kind, "__aiter__", None) is None
        or not hasattr(stream, "__dict__")
    ):
        return False
    try:
        if stream.__aiter__() is not stream:  # type: ignore[attr-defined]
            return False
        stream.__dict__[_WATCH] = watch  # a watched stream watched again: the latest watch
        if not getattr(kind, _WATCHING, False):
            stream.__class__ = _subclass(kind)
    except Exception:
        stream.__dict__.pop(_WATCH, None)
        log.debug("modelmuxer_litellm: cannot watch a %s", kind.__qualname__)
        return False
    return True


async def relay(stream: Any) -> AsyncGenerator[Any, None]:
    """``stream``'s chunks; closed (``aclose``) as soon as the relay is closed before the
    stream's end, so a reader's early stop reaches the stream at once, not at collection."""
    finished = False
    try:
        async for chunk in stream:
            yield chunk
        finished = True
    finally:
        aclose = None if finished else getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def partial_answer(stream: Any, kwargs: Mapping[str, Any]) -> object:
    """What ``stream`` answered before its reader stopped, with usage: LiteLLM's
    ``stream_chunk_builder`` over the chunks received (usage the provider sent, else counted);
    with no chunk, the prompt's tokens alone (the provider read it)."""
    import litellm

    chunks = getattr(stream, "chunks", None)
    messages = kwargs.get("messages")
    try:
        if isinstance(chunks, list) and chunks:
            built = litellm.stream_chunk_builder(chunks, messages=messages)
            if built is not None:
                return built
        prompt = litellm.token_counter(model=str(kwargs.get("model") or ""), messages=messages)
    except Exception:  # an answer LiteLLM cannot rebuild: recorded without usage
        log.exception("modelmuxer_litellm: cannot count the tokens of an abandoned stream")
        return None
    return {"usage": {"prompt_tokens": prompt, "completion_tokens": 0}}


def call_on_loop(loop: asyncio.AbstractEventLoop, function: Callable[[], None]) -> bool:
    """Call ``function`` on ``loop``: now when this thread runs ``loop``, else soon, in the
    loop's thread (a stream is dropped, and its end reported, in whatever thread collects it).
    ``False`` when ``loop`` is closed and ``function`` will never run."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    try:
        if running is loop:
            function()
        else:
            loop.call_soon_threadsafe(function)
    except RuntimeError:
        return False
    return True
