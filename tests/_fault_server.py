"""A fault-injecting OpenAI-compatible server on 127.0.0.1, for tests of the real HTTP path.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` answers, chunked SSE streams)
for ``litellm`` / the ``openai`` SDK to talk to it as to OpenAI, and answers
``POST /v1/chat/completions`` streamed or not. What it does to each request is scripted per
model: a queue of :class:`Fault` objects, one consumed per request, then a default (an
ordinary answer unless :meth:`FaultServer.always` says otherwise). It can answer an HTTP error
(with ``Retry-After`` and an error body), be slow, drop the connection before or after the
headers, and break a stream after some chunks. Every request it received is kept in
:attr:`FaultServer.requests`.

Built on ``asyncio`` streams only (no aiohttp), so the server and its faults are exact: a
dropped connection is a socket aborted mid-answer, not an exception inside a framework.

    async with FaultServer() as server:
        server.script("flaky", Fault(status=503), Fault(status=503))  # then answers
        spec = server.model_spec("flaky")  # a ModelSpec pointing at the server
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KEY_ENV", "KEY_VALUE", "Fault", "FaultServer", "SeenRequest"]

#: the environment variable the model specs name for their key, and a dummy value for it
KEY_ENV = "MODELMUXER_TEST_FAULT_SERVER_KEY"
KEY_VALUE = "sk-fault-server-dummy-key-0000"

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Fault:
    """What the server does to one request (the defaults answer it normally).

    - ``delay_s``: wait this long before answering (before the headers).
    - ``status``: answer this HTTP error status with ``body`` (default: an OpenAI-shaped error
      whose message is ``message``), a ``Retry-After: retry_after`` header when that is set,
      and ``headers``.
    - ``drop``: abort the connection ``"before_headers"`` (nothing is sent) or
      ``"after_headers"`` (status line and headers only).
    - ``fail_after_chunks``: a stream sends that many content chunks, then the connection is
      aborted mid-body (an incomplete chunked read for the client).
    - ``chunk_delay_s``: pause between stream chunks (after the first).
    - ``text``: the answer (default: ``"Hello from <model>. All good."``).
    - ``usage``: send usage (non-stream: in the body; stream: when ``include_usage`` is asked).
    """

    delay_s: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected failure"
    body: dict[str, Any] | None = None
    drop: Literal["before_headers", "after_headers"] | None = None
    fail_after_chunks: int | None = None
    chunk_delay_s: float = 0.0
    text: str | None = None
    usage: bool = True


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received."""

    model: str
    stream: bool
    messages: list[dict[str, Any]]
    authorization: str | None
    at: float  # time.monotonic() when it arrived


@dataclass
class _Model:
    script: deque[Fault] = field(default_factory=deque)
    default: Fault = field(default_factory=Fault)


class FaultServer:
    """The server. Start it with ``async with`` (or :meth:`start` / :meth:`close`)."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self._models: dict[str, _Model] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    # -- scripting ------------------------------------------------------------------------------

    def script(self, model: str, *faults: Fault) -> None:
        """Queue ``faults`` for ``model``'s next requests, one per request, in order."""
        self._models.setdefault(model, _Model()).script.extend(faults)

    def always(self, model: str, fault: Fault) -> None:
        """What ``model``'s requests get once its script is used up (default: an answer)."""
        self._models.setdefault(model, _Model()).default = fault

    def seen(self, model: str | None = None) -> list[SeenRequest]:
        """The requests received (for ``model`` only, when given)."""
        return [r for r in self.requests if model is None or r.model == model]

    @property
    def url(self) -> str:
        """The OpenAI-style base URL (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def model_spec(self, name: str, **overrides: Any) -> dict[str, Any]:
        """A model spec (``openai/<name>``) that litellm calls on this server, with prices."""
        spec: dict[str, Any] = {
            "id": f"openai/{name}",
            "provider": "openai",
            "input_price_per_mtok": 1.0,
            "output_price_per_mtok": 4.0,
            "context_window": 16_000,
            "max_output_tokens": 1_000,
            "quality": 0.8,
            "deployment": {"api_base": self.url, "api_key_env": KEY_ENV},
        }
        spec.update(overrides)
        return spec

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None

    async def __aenter__(self) -> FaultServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- serving --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up (a timeout) or the server is closing
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; ``False`` when the connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await _send(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        payload = json.loads(body or b"{}")
        model = str(payload.get("model", ""))
        stream = bool(payload.get("stream"))
        self.requests.append(
            SeenRequest(
                model=model,
                stream=stream,
                messages=list(payload.get("messages", [])),
                authorization=headers.get("authorization"),
                at=time.monotonic(),
            )
        )
        fault = self._next_fault(model)
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.drop == "before_headers":
            writer.transport.abort()
            return False
        if fault.status is not None:
            error = fault.body or {
                "error": {"message": fault.message, "type": "injected", "code": fault.status}
            }
            extra = dict(fault.headers)
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
            await _send(writer, fault.status, error, extra)
            return True
        text = fault.text if fault.text is not None else f"Hello from {model}. All good."
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
        if stream:
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            return await _stream(writer, model, text, prompt_tokens, fault, include_usage)
        if fault.drop == "after_headers":
            await _head(writer, 200, {"Content-Type": "application/json", "Content-Length": "500"})
            writer.transport.abort()
            return False
        answer: dict[str, Any] = {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
        if fault.usage:
            answer["usage"] = _usage(prompt_tokens, len(text.split()))
        await _send(writer, 200, answer)
        return True

    def _next_fault(self, model: str) -> Fault:
        entry = self._models.setdefault(model, _Model())
        return entry.script.popleft() if entry.script else entry.default


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def _head(writer: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    payload: dict[str, Any],
    extra: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    headers.update(extra or {})
    await _head(writer, status, headers)
    writer.write(data)
    await writer.drain()


async def _chunk(writer: asyncio.StreamWriter, event: dict[str, Any] | str) -> None:
    data = event if isinstance(event, str) else json.dumps(event)
    frame = f"data: {data}\n\n".encode()
    writer.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
    await writer.drain()


async def _stream(
    writer: asyncio.StreamWriter,
    model: str,
    text: str,
    prompt_tokens: int,
    fault: Fault,
    include_usage: bool,
) -> bool:
    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "Transfer-Encoding": "chunked",
    }
    await _head(writer, 200, headers)
    if fault.drop == "after_headers":
        writer.transport.abort()
        return False
    words = text.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    base = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "model": model}
    base["created"] = int(time.time())
    for sent, piece in enumerate(pieces):
        if fault.fail_after_chunks is not None and sent >= fault.fail_after_chunks:
            writer.transport.abort()  # mid-body: the chunked answer never completes
            return False
        if sent and fault.chunk_delay_s:
            await asyncio.sleep(fault.chunk_delay_s)
        delta: dict[str, Any] = {"content": piece}
        if sent == 0:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        await _chunk(writer, {**base, "choices": [choice]})
    if fault.fail_after_chunks is not None:
        writer.transport.abort()
        return False
    await _chunk(writer, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage and fault.usage:
        await _chunk(writer, {**base, "choices": [], "usage": _usage(prompt_tokens, len(words))})
    await _chunk(writer, "[DONE]")
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True
