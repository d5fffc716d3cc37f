"""Conversions between LangChain messages and ModelMuxer's, both ways."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call

from langchain_modelmuxer.convert import (
    to_lc_messages,
    to_muxer_messages,
    tool_choice_to_lc,
    tool_choice_to_muxer,
)
from modelmuxer.errors import InvalidRequest
from modelmuxer.types import Message


def test_roundtrip_keeps_roles_tool_calls_and_images() -> None:
    call = {"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    original = [
        SystemMessage("be brief"),
        HumanMessage(
            [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "base64": "AAAA", "mime_type": "image/png"},
            ],
            name="ann",
        ),
        AIMessage("", tool_calls=[call]),
        ToolMessage("2", tool_call_id="c1"),
    ]
    dicts = to_muxer_messages(original)
    assert dicts[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
    }
    assert dicts[2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1}'}
    back = to_lc_messages(Message.model_validate(d) for d in dicts)
    assert [type(m) for m in back] == [type(m) for m in original]
    assert back[2].tool_calls == [call]  # type: ignore[attr-defined]
    assert back[1].name == "ann"


def test_empty_assistant_messages_are_dropped_and_pdf_is_rejected() -> None:
    assert to_muxer_messages([HumanMessage("hi"), AIMessage("")]) == [
        {"role": "user", "content": "hi"}
    ]
    pdf = HumanMessage([{"type": "file", "base64": "AAAA", "mime_type": "application/pdf"}])
    with pytest.raises(InvalidRequest, match="'file'"):
        to_muxer_messages([pdf])


@pytest.mark.parametrize(
    ("lc", "muxer"),
    [
        ("any", "required"),
        (True, "required"),
        ("auto", "auto"),
        ("none", "none"),
        ("add", {"type": "function", "function": {"name": "add"}}),
        (None, None),
    ],
)
def test_tool_choice(lc: object, muxer: object) -> None:
    assert tool_choice_to_muxer(lc) == muxer
    if isinstance(muxer, dict):
        assert tool_choice_to_lc(muxer) == lc


def test_invalid_tool_calls_keep_their_turn_and_raw_arguments() -> None:
    bad = invalid_tool_call(name="add", args='{"a": 1', id="c1", error="bad JSON")
    history = [
        HumanMessage("add one"),
        AIMessage("", invalid_tool_calls=[bad]),
        ToolMessage("error: the arguments were not JSON", tool_call_id="c1", status="error"),
    ]
    dicts = to_muxer_messages(history)
    assert [d["role"] for d in dicts] == ["user", "assistant", "tool"]  # no orphan tool reply
    assert dicts[1]["tool_calls"][0]["id"] == "c1"
    assert dicts[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1'}
    back = to_lc_messages(Message.model_validate(d) for d in dicts)
    assert back[1].tool_calls == []  # type: ignore[attr-defined]
    (again,) = back[1].invalid_tool_calls  # type: ignore[attr-defined]
    assert (again["name"], again["args"], again["id"]) == ("add", '{"a": 1', "c1")
