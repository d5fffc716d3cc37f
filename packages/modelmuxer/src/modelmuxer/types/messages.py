"""Chat messages in the OpenAI chat shape: system, user, assistant and tool roles."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelmuxer.types._checks import JsonObject, Text

__all__ = [
    "ContentPart",
    "FunctionCall",
    "FunctionSpec",
    "ImagePart",
    "ImageURL",
    "Message",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolSpec",
]

Role = Literal["system", "user", "assistant", "tool"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class TextPart(BaseModel):
    """A text content part."""

    model_config = _FROZEN
    type: Literal["text"] = "text"
    text: Text


class ImageURL(BaseModel):
    """Where an image is: an ``https://`` URL or a ``data:`` URL."""

    model_config = _FROZEN
    url: Text = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    """An image content part."""

    model_config = _FROZEN
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(BaseModel):
    """The function a tool call invokes; ``arguments`` is a JSON object encoded as a string."""

    model_config = _FROZEN
    name: Text = Field(min_length=1)
    arguments: Text = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments decoded; raises ``ValueError`` when they are not a JSON object."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool call arguments must be a JSON object")
        return value


class ToolCall(BaseModel):
    """A tool call made by the assistant."""

    model_config = _FROZEN
    id: Text = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class FunctionSpec(BaseModel):
    """A function the model may call: name, description and JSON-schema parameters."""

    model_config = _FROZEN
    name: Text = Field(min_length=1, max_length=64)
    description: Text | None = None
    parameters: JsonObject = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ToolSpec(BaseModel):
    """A tool offered to the model (OpenAI ``tools`` entry)."""

    model_config = _FROZEN
    type: Literal["function"] = "function"
    function: FunctionSpec


class Message(BaseModel):
    """One chat message.

    ``content`` is a string or a list of text / image parts. System and user messages need content;
    assistant messages need content or tool calls; tool messages need ``tool_call_id``.
    """

    model_config = _FROZEN
    role: Role
    content: Text | list[ContentPart] | None = None
    name: Text | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: Text | None = None

    @model_validator(mode="after")
    def _check_role_fields(self) -> Message:
        if self.role in ("system", "user") and not self.content:
            raise ValueError(f"a {self.role} message needs non-empty content")
        if self.role == "assistant" and not self.content and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id (the id of the call it answers)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.role == "system" and self.has_images:
            raise ValueError("a system message must be text; put images in a user message")
        return self

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined by newlines."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "\n".join(part.text for part in content if isinstance(part, TextPart))

    @property
    def has_images(self) -> bool:
        """True when the content holds at least one image part."""
        content = self.content
        return isinstance(content, list) and any(isinstance(p, ImagePart) for p in content)

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI / litellm ``messages`` entry."""
        return self.model_dump(mode="json", exclude_none=True)
