"""The texts of a request that redaction reads and rewrites.

Every message's text content (string or text parts; the system prompt too), the arguments of
the assistant's tool calls and the tool results. Tool-call arguments are JSON: their string
keys and values are the texts (so a value is found whole, unescaped) and the arguments are
re-encoded only when something in them changed. Images, tool definitions, names and metadata
are left as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from modelmuxer.types import Message, Request, TextPart, ToolCall

__all__ = ["map_texts", "texts_of"]

Rewrite = Callable[[str], str]


def texts_of(request: Request) -> Iterator[str]:
    """Every text of ``request``, in the order :func:`map_texts` visits them."""
    found: list[str] = []

    def collect(text: str) -> str:
        found.append(text)
        return text

    map_texts(request, collect)
    yield from found


def map_texts(request: Request, rewrite: Rewrite) -> Request:
    """``request`` with every text replaced by ``rewrite(text)`` (itself when none changed)."""
    messages = [_message(m, rewrite) for m in request.messages]
    if all(new is old for new, old in zip(messages, request.messages, strict=True)):
        return request
    return request.model_copy(update={"messages": messages})


def _message(message: Message, rewrite: Rewrite) -> Message:
    update: dict[str, Any] = {}
    content = message.content
    if isinstance(content, str):
        new = rewrite(content)
        if new != content:
            update["content"] = new
    elif content:
        parts: list[Any] = []
        for part in content:
            if isinstance(part, TextPart):
                text = rewrite(part.text)
                if text != part.text:
                    part = part.model_copy(update={"text": text})
            parts.append(part)
        if any(new is not old for new, old in zip(parts, content, strict=True)):
            update["content"] = parts
    if message.tool_calls:
        calls = [_tool_call(c, rewrite) for c in message.tool_calls]
        if any(new is not old for new, old in zip(calls, message.tool_calls, strict=True)):
            update["tool_calls"] = calls
    return message.model_copy(update=update) if update else message


def _tool_call(call: ToolCall, rewrite: Rewrite) -> ToolCall:
    arguments = call.function.arguments
    try:
        decoded = json.loads(arguments)
        changed = _json(decoded, rewrite)
    except (ValueError, RecursionError):
        new = rewrite(arguments)  # not JSON (or absurdly nested): the raw string is the text
    else:
        new = arguments if changed == decoded else json.dumps(changed, ensure_ascii=False)
    if new == arguments:
        return call
    function = call.function.model_copy(update={"arguments": new})
    return call.model_copy(update={"function": function})


def _json(value: Any, rewrite: Rewrite) -> Any:
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [_json(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {rewrite(k): _json(v, rewrite) for k, v in value.items()}
    return value
