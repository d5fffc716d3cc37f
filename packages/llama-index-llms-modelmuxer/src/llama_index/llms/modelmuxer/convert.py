"""Conversions between LlamaIndex chat types and ModelMuxer's messages and completions.

LlamaIndex -> ModelMuxer: :func:`to_messages` (``ChatMessage`` blocks, tool-call blocks, tool
results). ModelMuxer -> LlamaIndex: :func:`to_chat_message` (text and ``ToolCallBlock``\\ s),
:func:`response_extras` (what a response carries about the call: usage, model, cost, decision).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    CitableBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json
from pydantic import ValidationError

from modelmuxer.errors import InvalidRequest
from modelmuxer.pipeline.inputs import invalid_from_validation
from modelmuxer.types import (
    Completion,
    ContentPart,
    FunctionCall,
    ImagePart,
    ImageURL,
    Message,
    Role,
    StreamChunk,
    TextPart,
    ToolCall,
    Usage,
)

__all__ = [
    "StreamAssembler",
    "response_extras",
    "to_chat_message",
    "to_chat_messages",
    "to_messages",
    "tool_blocks",
    "tool_selections",
    "usage_dict",
]

#: LlamaIndex roles in ModelMuxer's (OpenAI's) vocabulary.
_ROLES: Mapping[str, Role] = {
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.TOOL.value: "tool",
    MessageRole.FUNCTION.value: "tool",
}
#: Blocks that carry nothing a model should read (prompt-cache markers, private reasoning).
_SKIPPED = (CachePoint, ThinkingBlock)


# -- LlamaIndex -> ModelMuxer -------------------------------------------------------------------


def to_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """ModelMuxer messages for a LlamaIndex conversation.

    Tool-call blocks (and the legacy ``additional_kwargs["tool_calls"]``) become assistant
    ``tool_calls``; a tool message's ``additional_kwargs["tool_call_id"]`` ties its result to the
    call. Anything but a ``ChatMessage`` raises :class:`~modelmuxer.errors.InvalidRequest`.
    Empty system messages and assistant messages with neither text nor tool calls (an
    empty answer kept in a chat history) carry nothing a model can use and are dropped (the
    muxer rejects them); unsupported blocks (audio, video, documents) raise
    :class:`~modelmuxer.errors.InvalidRequest` naming the block.
    """
    out: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise InvalidRequest(
                f"expected a LlamaIndex ChatMessage, got {type(message).__name__}",
                field=f"messages.{index}",
            )
        try:
            converted = _message(message, index)
        except ValidationError as exc:
            raise invalid_from_validation(exc, f"messages.{index}") from None
        if converted is not None:
            out.append(converted)
    return out


def _message(message: ChatMessage, index: int) -> Message | None:
    role = _ROLES.get(_role_value(message.role))
    if role is None:
        raise InvalidRequest(f"unsupported role {message.role!r}", field=f"messages.{index}.role")
    parts, calls = _blocks(message, index)
    extra = message.additional_kwargs
    if role == "assistant" and not calls and extra.get("tool_calls"):
        calls = [_legacy_tool_call(c, index) for c in extra["tool_calls"]]
    content: str | list[ContentPart] | None
    if any(isinstance(p, ImagePart) for p in parts):
        content = parts
    else:
        content = "\n".join(p.text for p in parts if isinstance(p, TextPart))
    if role == "system" and not content:
        return None
    if role == "tool":
        call_id = extra.get("tool_call_id") or extra.get("call_id")
        return Message(
            role="tool", content=content or "", tool_call_id=call_id, name=extra.get("name")
        )
    if role == "assistant":
        if not content and not calls:
            return None
        return Message(role="assistant", content=content or None, tool_calls=calls or None)
    return Message(role=role, content=content)


def _role_value(role: MessageRole | str) -> str:
    return role.value if isinstance(role, MessageRole) else str(role)


def _blocks(message: ChatMessage, index: int) -> tuple[list[ContentPart], list[ToolCall]]:
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append(TextPart(text=block.text))
        elif isinstance(block, ToolCallBlock):
            calls.append(_tool_call(block, index, len(calls)))
        elif isinstance(block, ImageBlock):
            parts.append(ImagePart(image_url=_image_url(block)))
        elif isinstance(block, CitableBlock):
            parts.extend(TextPart(text=b.text) for b in block.content if isinstance(b, TextBlock))
        elif not isinstance(block, _SKIPPED):
            raise InvalidRequest(
                f"{type(block).__name__} content is not supported by ModelMuxer; send text, "
                "images or tool calls",
                field=f"messages.{index}.blocks",
            )
    return parts, calls


def _image_url(block: ImageBlock) -> ImageURL:
    detail = block.detail if block.detail in ("auto", "low", "high") else None
    if block.url is not None and not block.image:
        return ImageURL(url=str(block.url), detail=detail)
    return ImageURL(url=block.inline_url(), detail=detail)


def _tool_call(block: ToolCallBlock, index: int, position: int) -> ToolCall:
    arguments = block.tool_kwargs
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call_id = block.tool_call_id or f"call_{index}_{position}"
    return ToolCall(id=call_id, function=FunctionCall(name=block.tool_name, arguments=encoded))


def _legacy_tool_call(call: Any, index: int) -> ToolCall:
    """An OpenAI-shaped tool call (a dict or an SDK object) from ``additional_kwargs``."""
    data = call if isinstance(call, Mapping) else getattr(call, "model_dump", lambda: {})()
    function = data.get("function") or {}
    name = function.get("name")
    if not name:
        raise InvalidRequest(
            "a tool call in additional_kwargs['tool_calls'] has no function name",
            field=f"messages.{index}.additional_kwargs.tool_calls",
        )
    arguments = function.get("arguments") or "{}"
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    call_id = data.get("id") or f"call_{index}_{name}"
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


# -- ModelMuxer -> LlamaIndex -------------------------------------------------------------------


def to_chat_messages(messages: Iterable[Message]) -> list[ChatMessage]:
    """LlamaIndex messages for a ModelMuxer conversation (to call a wrapped LlamaIndex LLM)."""
    out = []
    for message in messages:
        blocks: list[Any] = []
        content = message.content
        if isinstance(content, str):
            blocks.append(TextBlock(text=content))
        elif content:
            for part in content:
                if isinstance(part, TextPart):
                    blocks.append(TextBlock(text=part.text))
                else:
                    blocks.append(ImageBlock(url=part.image_url.url, detail=part.image_url.detail))
        blocks.extend(tool_blocks(message.tool_calls or ()))
        extra: dict[str, Any] = {}
        if message.tool_call_id:
            extra["tool_call_id"] = message.tool_call_id
        if message.name:
            extra["name"] = message.name
        out.append(
            ChatMessage(role=MessageRole(message.role), blocks=blocks, additional_kwargs=extra)
        )
    return out


def tool_blocks(calls: Iterable[ToolCall]) -> list[ToolCallBlock]:
    """LlamaIndex tool-call blocks for finished tool calls (arguments decoded when valid)."""
    blocks = []
    for call in calls:
        function = call.function
        try:
            kwargs: dict[str, Any] | str = function.parsed_arguments()
        except ValueError:
            kwargs = function.arguments  # kept as sent: the agent reports the bad arguments
        blocks.append(
            ToolCallBlock(tool_call_id=call.id, tool_name=function.name, tool_kwargs=kwargs)
        )
    return blocks


def to_chat_message(text: str, calls: Sequence[ToolCall] = ()) -> ChatMessage:
    """The assistant message for an answer: a text block (when there is text) and tool calls.

    Tool calls are ``ToolCallBlock``\\ s and, as LlamaIndex's OpenAI LLM also sets them,
    OpenAI-shaped dicts in ``additional_kwargs["tool_calls"]``: parts of LlamaIndex read only
    those (streamed structured outputs, chat engines' function detection).
    """
    blocks: list[Any] = [TextBlock(text=text)] if text else []
    blocks.extend(tool_blocks(calls))
    if not blocks:
        blocks.append(TextBlock(text=""))
    shaped = [_openai_tool_call(c.id, c.function.name, c.function.arguments) for c in calls]
    return _assistant(blocks, shaped)


def _assistant(blocks: list[Any], tool_calls: list[dict[str, Any]]) -> ChatMessage:
    extra: dict[str, Any] = {"tool_calls": tool_calls} if tool_calls else {}
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)


def _openai_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool call as OpenAI's chat API writes it (``arguments`` a JSON string, maybe partial)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_selections(message: ChatMessage) -> list[ToolSelection]:
    """The tool calls of ``message`` as LlamaIndex ``ToolSelection``\\ s.

    Arguments still streaming in (a partial JSON string) are decoded as far as they go.
    """
    selections = []
    for block in message.blocks:
        if not isinstance(block, ToolCallBlock):
            continue
        kwargs = block.tool_kwargs
        if isinstance(kwargs, str):
            try:
                kwargs = parse_partial_json(kwargs) if kwargs else {}
            except (ValueError, TypeError):
                kwargs = {}
        selections.append(
            ToolSelection(
                tool_id=block.tool_call_id or "",
                tool_name=block.tool_name,
                tool_kwargs=kwargs if isinstance(kwargs, dict) else {},
            )
        )
    return selections


def usage_dict(usage: Usage) -> dict[str, int]:
    """Usage in OpenAI's keys, which LlamaIndex's ``TokenCountingHandler`` reads."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
    }


def response_extras(completion: Completion) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(raw, additional_kwargs)`` for a response carrying ``completion``.

    ``raw`` is plain JSON-able data shaped like a provider's response (``usage`` with OpenAI's
    keys, so token counting sees the tokens of the model that answered); ``additional_kwargs``
    holds the typed objects: the :class:`~modelmuxer.types.Completion` and its
    :class:`~modelmuxer.types.Decision`, plus the model and cost for quick access.
    """
    decision = completion.decision
    usage = usage_dict(completion.usage)
    raw = {
        "id": completion.request_id,
        "model": completion.model,
        "provider": completion.provider,
        "finish_reason": completion.finish_reason,
        "usage": usage,
        "cost_usd": completion.cost_usd,
        "decision": {
            "strategy": decision.strategy,
            "models": list(decision.models),
            "reason": decision.reason,
        },
    }
    extras = {
        "model": completion.model,
        "provider": completion.provider,
        "cost_usd": completion.cost_usd,
        "request_id": completion.request_id,
        "decision": decision,
        "completion": completion,
        **usage,
    }
    return raw, extras


class StreamAssembler:
    """Turns a routed stream into LlamaIndex chat responses, one per chunk.

    Each response carries the message so far (text and tool calls, their arguments possibly
    partial JSON, as blocks and in the message's ``additional_kwargs["tool_calls"]``) and the
    chunk's ``delta``; the last one (empty ``delta``) carries the finished answer with ``raw``
    and ``additional_kwargs`` as :func:`response_extras` makes them, so callbacks ending the
    stream see the real usage.
    """

    __slots__ = ("_calls", "_text")

    def __init__(self) -> None:
        self._text = ""
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]

    def feed(self, chunk: StreamChunk) -> ChatResponse:
        completion = chunk.completion
        if completion is not None:
            raw, extras = response_extras(completion)
            message = to_chat_message(completion.text, completion.tool_calls)
            return ChatResponse(message=message, delta="", raw=raw, additional_kwargs=extras)
        self._text += chunk.text
        for delta in chunk.tool_calls:
            call = self._calls.setdefault(delta.index, ["", "", ""])
            call[0] = delta.id or call[0]
            call[1] = delta.name or call[1]
            call[2] += delta.arguments
        blocks: list[Any] = [TextBlock(text=self._text)] if self._text else []
        blocks.extend(
            ToolCallBlock(tool_call_id=cid or None, tool_name=name, tool_kwargs=args)
            for cid, name, args in self._calls.values()
        )
        shaped = [_openai_tool_call(*call) for call in self._calls.values()]
        return ChatResponse(message=_assistant(blocks, shaped), delta=chunk.text)
