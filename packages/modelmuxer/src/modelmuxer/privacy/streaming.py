"""Restoring placeholders in a streamed answer, whatever the chunk boundaries.

A placeholder may arrive split across chunks (``"[EMA"``, ``"IL_1] wrote"``): the restorer
holds back a chunk's tail while it may still be the start of a placeholder, and emits it,
restored or as it was, as soon as the next chunk decides. Joining what it emits (and its final
flush) gives exactly the restored whole answer: nothing duplicated, nothing lost.
"""

from __future__ import annotations

from modelmuxer.privacy.redaction import Redactor
from modelmuxer.types import Completion, StreamChunk, ToolCallDelta

__all__ = ["StreamRestorer", "TextRestorer"]


class TextRestorer:
    """Restores one stream of text pieces (``json``: the pieces are JSON, e.g. tool-call
    arguments, and values are escaped accordingly)."""

    __slots__ = ("_json", "_pending", "_redactor")

    def __init__(self, redactor: Redactor, *, json: bool = False) -> None:
        self._redactor = redactor
        self._json = json
        self._pending = ""

    def feed(self, piece: str) -> str:
        """The restored text that ``piece`` completes (possibly empty)."""
        text = self._pending + piece
        cut = text.rfind(self._redactor.opener)
        # the opener occurs once per placeholder, at its start: only the last one can begin an
        # unfinished placeholder, and no placeholder can straddle it
        if cut >= 0 and self._redactor.holds_back(text[cut:]):
            self._pending = text[cut:]
            text = text[:cut]
        else:
            self._pending = ""
        return self._restore(text)

    def flush(self) -> str:
        """What is held back (the stream ended: it was not a placeholder)."""
        text, self._pending = self._pending, ""
        return self._restore(text)

    @property
    def pending(self) -> bool:
        """Whether some text is held back."""
        return bool(self._pending)

    def _restore(self, text: str) -> str:
        if not text:
            return text
        return self._redactor.restore_json(text) if self._json else self._redactor.restore(text)


class StreamRestorer:
    """Restores a stream of :class:`~modelmuxer.types.StreamChunk`: text, tool-call arguments
    (one restorer per tool call) and the final completion."""

    __slots__ = ("_arguments", "_redactor", "_text")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._text = TextRestorer(redactor)
        self._arguments: dict[int, TextRestorer] = {}

    def feed(self, chunk: StreamChunk) -> list[StreamChunk]:
        """The chunks to emit for ``chunk``: none while everything is held back, one, or two
        at the end (what was held back, then the restored completion)."""
        text = self._text.feed(chunk.text) if chunk.text else ""
        deltas = self._deltas(chunk.tool_calls) if chunk.tool_calls else []
        out: list[StreamChunk] = []
        if text or deltas:
            if text == chunk.text and deltas == chunk.tool_calls and chunk.completion is None:
                return [chunk]
            out.append(StreamChunk(text=text, tool_calls=deltas, model=chunk.model))
        if chunk.completion is not None:
            out.extend(self._finish(chunk.model, chunk.completion))
        return out

    def _deltas(self, incoming: list[ToolCallDelta]) -> list[ToolCallDelta]:
        out: list[ToolCallDelta] = []
        for delta in incoming:
            # a new tool call starts: the previous ones' arguments are complete
            for index, restorer in self._arguments.items():
                if index != delta.index and restorer.pending:
                    out.append(ToolCallDelta(index=index, arguments=restorer.flush()))
            current = self._arguments.get(delta.index)
            if current is None:
                current = self._arguments[delta.index] = TextRestorer(self._redactor, json=True)
            arguments = current.feed(delta.arguments) if delta.arguments else ""
            if arguments == delta.arguments:
                out.append(delta)
            elif arguments or delta.id or delta.name:
                out.append(delta.model_copy(update={"arguments": arguments}))
        return out

    def _finish(self, model: str, completion: Completion) -> list[StreamChunk]:
        text = self._text.flush()
        deltas = [
            ToolCallDelta(index=index, arguments=restorer.flush())
            for index, restorer in self._arguments.items()
            if restorer.pending
        ]
        last = StreamChunk(model=model, completion=self._redactor.restore_completion(completion))
        if text or deltas:
            return [StreamChunk(text=text, tool_calls=deltas, model=model), last]
        return [last]

    def __repr__(self) -> str:
        return f"StreamRestorer({self._redactor!r})"
