"""Restoring a streamed answer: placeholders split across chunks at any position come out
whole, nothing is duplicated or lost, tool-call arguments too."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer.privacy import PlaceholderFormat, Redactor, StreamRestorer, TextRestorer
from modelmuxer.types import (
    Completion,
    Decision,
    FunctionCall,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

FMT = PlaceholderFormat("[{KIND}_{n}]")
VALUES = {
    "ada@example.com": "email",
    "+44 20 7946 0958": "phone",
    'pass"word\\with\nnewline': "secret",
    "[EMAIL_1]": "secret",  # a value that looks like a placeholder itself
}


def _redactor() -> Redactor:
    redactor = Redactor(FMT, taken={"[SECRET_2]"})
    for value, kind in VALUES.items():
        redactor.placeholder(value, kind)
    return redactor


REDACTOR = _redactor()
ANSWER = (
    "Write to [EMAIL_1] or call [PHONE_1]. The password is [SECRET_1]; [SECRET_2] is not ours, "
    "[SECRET_3] is, [EMAIL_9] is unknown, and so is [EMAIL_ or [PHONE_1 or [[EMAIL_1]]."
)


def _stream(pieces: list[str], *, json_mode: bool = False) -> str:
    restorer = TextRestorer(REDACTOR, json=json_mode)
    return "".join(restorer.feed(p) for p in pieces) + restorer.flush()


def test_whole_restore() -> None:
    assert REDACTOR.restore(ANSWER) == (
        "Write to ada@example.com or call +44 20 7946 0958. The password is "
        'pass"word\\with\nnewline; [SECRET_2] is not ours, [EMAIL_1] is, [EMAIL_9] is unknown, '
        "and so is [EMAIL_ or [PHONE_1 or [ada@example.com]."
    )


def test_split_in_two_at_every_position() -> None:
    expected = REDACTOR.restore(ANSWER)
    for cut in range(len(ANSWER) + 1):
        assert _stream([ANSWER[:cut], ANSWER[cut:]]) == expected, cut


def test_split_in_three_at_every_pair_of_positions() -> None:
    text = "x [EMAIL_1][PHONE_1] [SECRET_1]"
    expected = REDACTOR.restore(text)
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            assert _stream([text[:i], text[i:j], text[j:]]) == expected, (i, j)


def test_one_character_at_a_time() -> None:
    assert _stream(list(ANSWER)) == REDACTOR.restore(ANSWER)


def test_held_back_text_is_emitted_as_soon_as_it_cannot_be_a_placeholder() -> None:
    restorer = TextRestorer(REDACTOR)
    assert restorer.feed("a [EMA") == "a "
    assert restorer.pending
    assert restorer.feed("IL_1] b [EMX") == "ada@example.com b [EMX"
    assert not restorer.pending
    assert restorer.feed("[") == ""
    assert restorer.flush() == "["


@settings(max_examples=400, deadline=None)
@given(
    text=st.lists(
        st.one_of(st.sampled_from(["[EMAIL_1]", "[PHONE_1]", "[SECRET_1]", "[SECRET_3]", "[",
                                   "]", "_", "EMAIL", "1", "[EMAIL_1", "[SECRET_2]"]),
                  st.text(max_size=4))
    ).map("".join),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    json_mode=st.booleans(),
)  # fmt: skip
def test_any_split_of_any_text(text: str, cuts: list[int], json_mode: bool) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    whole = REDACTOR.restore_json(text) if json_mode else REDACTOR.restore(text)
    assert _stream(pieces, json_mode=json_mode) == whole


def _completion(text: str, arguments: str) -> Completion:
    call = ToolCall(id="call_1", function=FunctionCall(name="send", arguments=arguments))
    return Completion(
        request_id="r",
        text=text,
        tool_calls=[call],
        finish_reason="tool_calls",
        usage=Usage(),
        cost_usd=0.0,
        model="m",
        provider="p",
        decision=Decision(strategy="s", models=["m"], candidates=[], reason="test"),
    )


def test_chunks_and_tool_call_arguments() -> None:
    arguments = json.dumps({"to": "[EMAIL_1]", "body": "pw: [SECRET_1]"})
    text = "Sending to [EMAIL_1] now."
    completion = _completion(text, arguments)
    restorer = StreamRestorer(REDACTOR)
    out: list[StreamChunk] = []
    for piece in [text[:14], text[14:]]:
        out += restorer.feed(StreamChunk(text=piece, model="m"))
    out += restorer.feed(
        StreamChunk(tool_calls=[ToolCallDelta(index=0, id="call_1", name="send")], model="m")
    )
    for start in range(0, len(arguments), 5):
        delta = ToolCallDelta(index=0, arguments=arguments[start : start + 5])
        out += restorer.feed(StreamChunk(tool_calls=[delta], model="m"))
    out += restorer.feed(StreamChunk(model="m", completion=completion))

    assert "".join(c.text for c in out) == "Sending to ada@example.com now."
    streamed = "".join(d.arguments for c in out for d in c.tool_calls if d.index == 0)
    assert json.loads(streamed) == {"to": "ada@example.com", "body": 'pw: pass"word\\with\nnewline'}
    heads = [d for c in out for d in c.tool_calls if d.id is not None]
    assert [(d.id, d.name) for d in heads] == [("call_1", "send")]
    final = out[-1].completion
    assert final is not None
    assert out[-1].text == ""
    assert not out[-1].tool_calls
    assert final.text == "Sending to ada@example.com now."
    assert final.tool_calls[0].function.parsed_arguments()["to"] == "ada@example.com"
    assert all(c.completion is None for c in out[:-1])
    assert all(c.text or c.tool_calls for c in out[:-1])  # no empty chunk is emitted


def test_a_second_tool_call_flushes_the_first_ones_arguments() -> None:
    restorer = StreamRestorer(REDACTOR)
    first = restorer.feed(
        StreamChunk(tool_calls=[ToolCallDelta(index=0, arguments='{"a": "[EM')], model="m")
    )
    assert [d.arguments for c in first for d in c.tool_calls] == ['{"a": "']
    second = restorer.feed(
        StreamChunk(
            tool_calls=[ToolCallDelta(index=1, id="c2", name="f", arguments="{}")], model="m"
        )
    )
    assert [(d.index, d.arguments) for c in second for d in c.tool_calls] == [(0, "[EM"), (1, "{}")]


def test_an_unchanged_chunk_is_passed_through() -> None:
    restorer = StreamRestorer(REDACTOR)
    chunk = StreamChunk(text="nothing to see", model="m")
    assert restorer.feed(chunk) == [chunk]
    assert restorer.feed(chunk)[0] is chunk
