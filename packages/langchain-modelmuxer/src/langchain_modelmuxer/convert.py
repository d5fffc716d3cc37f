"""Conversions between LangChain messages / tools and ModelMuxer's types, both ways.

LangChain -> ModelMuxer: :func:`to_muxer_messages` (messages as OpenAI-shaped dicts, validated once
by the muxer), :func:`tool_choice_to_muxer`. ModelMuxer -> LangChain: :func:`to_ai_message`,
:func:`to_lc_messages`, :func:`lc_tool_calls`, :func:`usage_metadata`, :func:`tool_call_chunks`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolCallChunk,
    ToolMessage,
)
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call

from modelmuxer.errors import InvalidRequest
from modelmuxer.types import Completion, Message, ToolCallDelta, Usage
from modelmuxer.types import ToolCall as MuxerToolCall

__all__ = [
    "completion_metadata",
    "final_chunk",
    "lc_tool_calls",
    "to_ai_message",
    "to_lc_messages",
    "to_muxer_messages",
    "tool_call_chunks",
    "tool_calls_to_muxer",
    "tool_choice_to_lc",
    "tool_choice_to_muxer",
    "usage_from_lc",
    "usage_metadata",
]

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}
_ROLES.update({"system": "system", "developer": "system", "tool": "tool", "function": "tool"})

# -- LangChain -> ModelMuxer --------------------------------------------------------------------


def to_muxer_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """LangChain messages as OpenAI-shaped message dicts (the muxer validates them).

    Assistant messages without text or tool calls carry nothing a model can use and are dropped
    (the muxer rejects empty assistant messages). Content a chat message cannot carry (PDF,
    audio) raises :class:`~modelmuxer.errors.InvalidRequest`.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        converted = _message(message)
        if converted is not None:
            out.append(converted)
    return out


def _message(message: BaseMessage) -> dict[str, Any] | None:
    if isinstance(message, AIMessage):
        entry: dict[str, Any] = {"role": "assistant"}
        text = _text(message.content)
        if text:
            entry["content"] = text
        calls = [_tool_call(tc) for tc in message.tool_calls]
        calls += [_invalid_tool_call(tc) for tc in message.invalid_tool_calls if tc.get("name")]
        if calls:
            entry["tool_calls"] = calls
        elif not text:
            return None
    elif isinstance(message, ToolMessage):
        entry = {
            "role": "tool",
            "content": _text(message.content),
            "tool_call_id": message.tool_call_id,
        }
    elif isinstance(message, FunctionMessage):
        entry = {"role": "tool", "content": _text(message.content), "tool_call_id": message.name}
    elif isinstance(message, SystemMessage):
        entry = {"role": "system", "content": _text(message.content)}
    elif isinstance(message, HumanMessage):
        entry = {"role": "user", "content": _user_content(message.content)}
    elif isinstance(message, ChatMessage):
        role = _ROLES.get(message.role)
        if role is None:
            raise InvalidRequest(f"unsupported chat message role {message.role!r}", field="role")
        entry = {"role": role, "content": _user_content(message.content)}
    else:
        raise InvalidRequest(f"unsupported message type {type(message).__name__}", field="messages")
    if message.name and entry["role"] in ("user", "assistant", "system"):
        entry["name"] = message.name
    return entry


def _tool_call(tc: ToolCall) -> dict[str, Any]:
    return {
        "id": tc.get("id") or f"call_{tc['name']}",
        "type": "function",
        "function": {"name": tc["name"], "arguments": json.dumps(tc["args"], ensure_ascii=False)},
    }


def _invalid_tool_call(tc: InvalidToolCall) -> dict[str, Any]:
    """A call whose arguments did not parse, with the arguments as the model wrote them (as
    LangChain's provider models send it back), so the tool message answering it keeps its turn."""
    return {
        "id": tc.get("id") or f"call_{tc['name']}",
        "type": "function",
        "function": {"name": tc["name"], "arguments": tc.get("args") or ""},
    }


def _text(content: str | list[str | dict[Any, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _user_content(content: str | list[str | dict[Any, Any]]) -> str | list[dict[str, Any]]:
    """A user message's content: a string, or text and image parts."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image_url":
            url = block["image_url"]
            parts.append(
                {"type": "image_url", "image_url": url if isinstance(url, dict) else {"url": url}}
            )
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block)}})
        else:
            raise InvalidRequest(
                f"content blocks of type {kind!r} are not supported; text and images are",
                field="content",
            )
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)  # plain text stays a string
    return parts


def _image_url(block: Mapping[str, Any]) -> str:
    if block.get("url"):
        return str(block["url"])
    data = block.get("base64") or block.get("data")
    if block.get("source_type") == "url":
        return str(block["url"])
    if not data:
        raise InvalidRequest("an image block needs a url or base64 data", field="content")
    mime = block.get("mime_type") or "image/png"
    return f"data:{mime};base64,{data}"


def tool_choice_to_muxer(choice: Any) -> str | dict[str, Any] | None:
    """LangChain's ``tool_choice`` (``"any"``, ``True``, a tool name...) in the OpenAI shape."""
    if choice is None or choice is False:
        return None
    if choice is True or choice in ("any", "required"):
        return "required"
    if choice in ("auto", "none"):
        return str(choice)
    if isinstance(choice, str):
        return {"type": "function", "function": {"name": choice}}
    if isinstance(choice, Mapping):
        return dict(choice)
    raise InvalidRequest(f"unsupported tool_choice {choice!r}", field="tool_choice")


# -- ModelMuxer -> LangChain --------------------------------------------------------------------


def tool_choice_to_lc(choice: Any) -> Any:
    """The muxer's ``tool_choice`` as LangChain chat models take it in ``bind_tools``."""
    if choice == "required":
        return "any"
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and "name" in function:
            return function["name"]
    return choice


def to_lc_messages(messages: Iterable[Message]) -> list[BaseMessage]:
    """The muxer's messages as LangChain messages (for a wrapped LangChain chat model)."""
    out: list[BaseMessage] = []
    for message in messages:
        content: Any = message.content
        if isinstance(content, list):
            content = [part.model_dump(exclude_none=True) for part in content]
        content = content or ""
        if message.role == "system":
            out.append(SystemMessage(content=content))
        elif message.role == "user":
            out.append(HumanMessage(content=content, name=message.name))
        elif message.role == "tool":
            out.append(ToolMessage(content=content, tool_call_id=message.tool_call_id or ""))
        else:
            calls, invalid = lc_tool_calls(message.tool_calls or ())
            out.append(
                AIMessage(
                    content=content,
                    tool_calls=calls,
                    invalid_tool_calls=invalid,
                    name=message.name,
                )
            )
    return out


def lc_tool_calls(
    calls: Iterable[MuxerToolCall],
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Tool calls as LangChain's: parsed, and invalid ones (arguments that are not a JSON
    object) with the model's raw arguments and the error, as LangChain's models report them."""
    parsed: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for tc in calls:
        try:
            args = tc.function.parsed_arguments()
        except ValueError as exc:
            error = f"arguments are not a JSON object: {exc}"
            invalid.append(
                invalid_tool_call(
                    name=tc.function.name, args=tc.function.arguments, id=tc.id, error=error
                )
            )
        else:
            parsed.append(tool_call(name=tc.function.name, args=args, id=tc.id))
    return parsed, invalid


def usage_metadata(usage: Usage) -> UsageMetadata:
    """The muxer's usage in LangChain's ``usage_metadata`` shape."""
    meta = UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
    )
    if usage.cached_tokens:
        meta["input_token_details"] = InputTokenDetails(cache_read=usage.cached_tokens)
    return meta


def usage_from_lc(meta: UsageMetadata | None) -> Usage | None:
    """LangChain's ``usage_metadata`` as the muxer's usage (``None`` when absent)."""
    if not meta:
        return None
    details = meta.get("input_token_details") or {}
    return Usage(
        prompt_tokens=meta.get("input_tokens", 0),
        completion_tokens=meta.get("output_tokens", 0),
        cached_tokens=details.get("cache_read", 0) or 0,
    )


def tool_calls_to_muxer(message: AIMessage) -> list[MuxerToolCall]:
    """A LangChain answer's tool calls as the muxer's (arguments JSON-encoded), invalid ones
    included with their raw arguments."""
    calls = [_tool_call(tc) for tc in message.tool_calls]
    calls += [_invalid_tool_call(tc) for tc in message.invalid_tool_calls if tc.get("name")]
    return [MuxerToolCall.model_validate(call) for call in calls]


def completion_metadata(completion: Completion) -> dict[str, Any]:
    """``response_metadata`` for an answer: who answered, what it cost, and why it was chosen."""
    decision = completion.decision
    return {
        "model_name": completion.model,
        "provider": completion.provider,
        "finish_reason": completion.finish_reason,
        "cost_usd": completion.cost_usd,
        "strategy": decision.strategy,
        "routing_reason": decision.reason,
        "cache_hit": not completion.attempts,
        "request_id": completion.request_id,
    }


def to_ai_message(completion: Completion) -> AIMessage:
    """The muxer's answer as an :class:`AIMessage` with usage and routing metadata."""
    fields: dict[str, Any] = {
        "usage_metadata": usage_metadata(completion.usage),
        "response_metadata": completion_metadata(completion),
    }
    if completion.tool_calls:  # else AIMessage's defaults (validating empty lists costs)
        fields["tool_calls"], fields["invalid_tool_calls"] = lc_tool_calls(completion.tool_calls)
    return AIMessage(content=completion.text, **fields)


def tool_call_chunks(deltas: Iterable[ToolCallDelta]) -> list[ToolCallChunk]:
    """Streamed tool-call pieces as LangChain tool-call chunks (merged by index)."""
    return [
        ToolCallChunk(
            name=d.name, args=d.arguments or None, id=d.id, index=d.index, type="tool_call_chunk"
        )
        for d in deltas
    ]


def final_chunk(completion: Completion) -> AIMessageChunk:
    """The stream's last chunk: usage (on this chunk only) and the routing metadata."""
    return AIMessageChunk(
        content="",
        usage_metadata=usage_metadata(completion.usage),
        response_metadata=completion_metadata(completion),
        chunk_position="last",
    )
