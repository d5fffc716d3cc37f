"""PII redaction through the Muxer: the model, the cache, the records, the events and the
ledger's stored prompts only ever see placeholders; the caller gets the values back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from _ledger_support import sqlite_settings
from _support import OFFLINE_MODELS, MakeMuxer
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer import Muxer, hookimpl
from modelmuxer.backends.base import ModelCall, ModelResponse, StreamDelta
from modelmuxer.config import MuxerSettings
from modelmuxer.context import RequestContext
from modelmuxer.privacy import PiiDetector, PresidioDetector
from modelmuxer.types import CallRecord, Completion, ModelCard, Request, Usage

MINI = OFFLINE_MODELS[0]
VALUES = {
    "email": "bob@corp.example.com",
    "us_ssn": "123-45-6789",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "phone": "+44 20 7946 0958",
    "api_key": "AKIAIOSFODNN7EXAMPLE",
    "credit_card": "4111 1111 1111 1111",
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": f"You are the support agent of {VALUES['email']}."},
    {"role": "user", "content": [{"type": "text", "text": f"Look up SSN {VALUES['us_ssn']}."}]},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {
                    "name": "lookup",
                    "arguments": json.dumps({"ssn": VALUES["us_ssn"], "iban": VALUES["iban"]}),
                },
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "c1",
        "content": f"Found: phone {VALUES['phone']}, key {VALUES['api_key']}, "
        f"card {VALUES['credit_card']}, mail {VALUES['email']}",
    },
]


class Wire:
    """Records every request a backend receives, as it would go over the wire."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    def _keep(self, request: Request) -> None:
        self.payloads.append(json.dumps([m.to_openai() for m in request.messages]))

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        self._keep(call.request)
        return (yield)

    @hookimpl(wrapper=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
        self._keep(call.request)
        return (yield)


class Listener:
    """Keeps events, records, what policies saw and what the request end saw."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.records: list[CallRecord] = []
        self.policy_saw: list[tuple[dict[str, int] | None, str]] = []
        self.ended: list[Completion | None] = []

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        self.events.append((name, dict(data)))

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        self.records.append(record)

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> None:
        self.policy_saw.append((ctx.state.get("pii_counts"), ctx.request.prompt_text))

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        self.ended.append(completion)


def _muxer(make_muxer: MakeMuxer, *plugins: object, **fields: Any) -> Muxer:
    privacy = fields.pop("privacy", {"redact": True})
    settings = MuxerSettings(models=[MINI], privacy=privacy, load_entrypoints=False, **fields)
    return make_muxer(None, settings=settings, plugins=list(plugins))


def _no_value_in(text: str, values: Mapping[str, str] = VALUES) -> None:
    for kind, value in values.items():
        assert value not in text, kind
        assert json.dumps(value)[1:-1] not in text, kind


def test_off_by_default_and_then_nothing_changes(make_muxer: MakeMuxer) -> None:
    wire, listener = Wire(), Listener()
    muxer = make_muxer([MINI], plugins=[wire, listener])
    assert muxer.privacy is None
    assert muxer.plugins.get_plugin("modelmuxer.privacy.detectors") is None
    muxer.complete(CONVERSATION)
    assert VALUES["us_ssn"] in wire.payloads[0]
    assert listener.policy_saw[0][0] is None  # no pii_counts: nothing was scanned


async def test_the_model_sees_placeholders_and_the_caller_gets_values(
    make_muxer: MakeMuxer,
) -> None:
    wire, listener = Wire(), Listener()
    muxer = _muxer(make_muxer, wire, listener)
    completion = await muxer.acomplete(CONVERSATION)

    (payload,) = wire.payloads
    _no_value_in(payload)
    for placeholder in ("[EMAIL_1]", "[US_SSN_1]", "[IBAN_1]", "[PHONE_1]", "[API_KEY_1]"):
        assert placeholder in payload
    sent = json.loads(payload)
    assert json.loads(sent[2]["tool_calls"][0]["function"]["arguments"]) == {
        "ssn": "[US_SSN_1]", "iban": "[IBAN_1]"
    }  # fmt: skip
    # the offline model repeats the tool result: with placeholders, restored for the caller
    assert completion.text == "The result is: " + CONVERSATION[3]["content"]

    counts = {"email": 1, "us_ssn": 1, "iban": 1, "phone": 1, "api_key": 1, "credit_card": 1}
    assert listener.policy_saw == [(counts, listener.policy_saw[0][1])]
    _no_value_in(listener.policy_saw[0][1])
    assert listener.events == [("pii.redacted", {"counts": counts})]
    for record in listener.records:
        _no_value_in(record.model_dump_json())
    # request_end plugins see the answer as the model wrote it
    (ended,) = listener.ended
    assert ended is not None
    _no_value_in(ended.text)
    assert "[PHONE_1]" in ended.text


async def test_streamed_answers_are_restored(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, wire)
    chunks = [chunk async for chunk in muxer.astream(CONVERSATION)]
    _no_value_in(wire.payloads[0])
    expected = "The result is: " + CONVERSATION[3]["content"]
    assert "".join(c.text for c in chunks) == expected
    final = chunks[-1].completion
    assert final is not None
    assert final.text == expected
    assert all(c.completion is None for c in chunks[:-1])


def test_tool_call_arguments_are_restored(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, wire)
    tools = [{"type": "function", "function": {
        "name": "send_email", "description": "Send an email",
        "parameters": {"type": "object", "properties": {"body": {"type": "string"}},
                       "required": ["body"]}}}]  # fmt: skip
    question = f"Send an email saying my card {VALUES['credit_card']} expired"
    completion = muxer.complete(question, tools=tools)
    _no_value_in(wire.payloads[0])
    (call,) = completion.tool_calls
    assert VALUES["credit_card"] in call.function.parsed_arguments()["body"]
    streamed = list(muxer.stream(question, tools=tools))
    arguments = "".join(d.arguments for c in streamed for d in c.tool_calls)
    assert VALUES["credit_card"] in json.loads(arguments)["body"]


def test_the_cache_keeps_placeholders_and_serves_other_values(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, wire, cache={"enabled": True})
    reply = {"offline": {"reply": "I will write to [EMAIL_1] today."}}  # not part of the key

    def ask(email: str) -> Completion:
        return muxer.complete(f"Please write to {email}", temperature=0, metadata=reply)

    first = ask("ann@example.com")
    assert (first.cache, first.text) == ("miss", "I will write to ann@example.com today.")
    # another address, the same redacted request: served from the cache, with this address
    second = ask("zoe@example.org")
    assert (second.cache, second.text) == ("exact", "I will write to zoe@example.org today.")
    assert len(wire.payloads) == 1
    stored = [item[0] for item in muxer.cache.answers.store._items.values()]  # type: ignore[attr-defined]
    assert [c.text for c in stored] == ["I will write to [EMAIL_1] today."]

    streamed = list(muxer.stream("Please write to kim@example.net", temperature=0, metadata=reply))
    final = streamed[-1].completion
    assert final is not None
    assert final.cache == "exact"
    assert (
        final.text == "".join(c.text for c in streamed) == "I will write to kim@example.net today."
    )


def test_redis_cache_stores_no_value(make_muxer: MakeMuxer, redis_url: str) -> None:
    import uuid

    import redis

    namespace = f"test-pii-{uuid.uuid4().hex[:8]}"
    cache = {"enabled": True, "backend": "redis", "redis_url": redis_url, "namespace": namespace}
    muxer = _muxer(make_muxer, cache=cache)
    question = f"Write to {VALUES['email']} about card {VALUES['credit_card']}"
    assert muxer.complete(question, temperature=0).cache == "miss"
    assert muxer.complete(question, temperature=0).cache == "exact"
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{namespace}*"))
        assert keys
        for key in keys:
            kind = client.type(key).decode()
            raw = client.dump(key) or b""
            assert VALUES["email"].encode() not in raw, kind
            card = VALUES["credit_card"]
            assert card.encode() not in raw, kind
            assert "".join(c for c in card if c.isdigit()).encode() not in raw, kind
    finally:
        for key in client.scan_iter(match=f"*{namespace}*"):
            client.delete(key)
        client.close()


def test_route_sets_the_counts_and_decides_as_a_call_does(make_muxer: MakeMuxer) -> None:
    listener = Listener()
    muxer = _muxer(make_muxer, listener)
    decision = muxer.route(CONVERSATION)
    counts, seen = listener.policy_saw[-1]
    assert counts is not None
    assert counts["email"] == 1
    _no_value_in(seen)
    assert listener.events == []  # nothing was sent: no event
    assert muxer.complete(CONVERSATION).decision.features == decision.features


def test_detect_mode_counts_and_sends_the_request_unchanged(make_muxer: MakeMuxer) -> None:
    wire, listener = Wire(), Listener()
    muxer = _muxer(make_muxer, wire, listener, privacy={"redact": True, "mode": "detect"})
    completion = muxer.complete(CONVERSATION)
    assert VALUES["us_ssn"] in wire.payloads[0]
    assert listener.policy_saw[0][0] == {
        "email": 1, "us_ssn": 1, "iban": 1, "phone": 1, "api_key": 1, "credit_card": 1
    }  # fmt: skip
    assert [name for name, _ in listener.events] == ["pii.detected"]
    assert completion.text.endswith(VALUES["email"])


def test_only_the_chosen_kinds(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, wire, privacy={"redact": True, "kinds": ["email", "us_ssn"]})
    muxer.complete(CONVERSATION)
    _no_value_in(wire.payloads[0], {k: VALUES[k] for k in ("email", "us_ssn")})
    assert VALUES["phone"] in wire.payloads[0]


def test_the_ledger_stores_prompts_with_placeholders(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    settings = MuxerSettings(
        models=[MINI],
        privacy={"redact": True},
        ledger=sqlite_settings(tmp_path, store_prompts=True),
        load_entrypoints=False,
    )
    muxer = make_muxer(None, settings=settings)
    completion = muxer.complete(f"Email {VALUES['email']}, SSN {VALUES['us_ssn']}")
    ledger = muxer.ledger
    assert ledger is not None
    ledger.record_feedback(completion.request_id, 1.0)
    rows = {r.request_id: r for r in ledger.training_rows()}
    prompt = rows[completion.request_id].prompt
    assert prompt == "Email [EMAIL_1], SSN [US_SSN_1]"


class _Names:
    """A custom recognizer registered through the hook: two known names."""

    name = "staff-names"
    kinds = frozenset({"person"})

    def detect(self, text: str) -> list[tuple[int, int, str]]:
        spans = []
        for name in ("Ada Lovelace", "Alan Turing"):
            at = text.find(name)
            if at >= 0:
                spans.append((at, at + len(name), "person"))
        return spans


class _NamesPlugin:
    @hookimpl
    def modelmuxer_register_pii_detectors(self, register: Any) -> None:
        register(_Names())


class _PresidioLike:
    def analyze(self, text: str, language: str, entities: list[str] | None = None) -> list[Any]:
        at = text.find("London")
        if at < 0:
            return []
        return [type("R", (), {"entity_type": "LOCATION", "start": at, "end": at + 6,
                               "score": 0.9})()]  # fmt: skip


class _PresidioPlugin:
    @hookimpl
    def modelmuxer_register_pii_detectors(self, register: Any) -> None:
        register(PresidioDetector(_PresidioLike(), entities={"LOCATION": "location"}))


def test_custom_detectors_plug_in_through_the_hook(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, wire, _NamesPlugin(), _PresidioPlugin())
    assert muxer.privacy is not None
    assert {"person", "location", "email"} <= muxer.privacy.scanner.kinds
    assert isinstance(_Names(), PiiDetector)
    completion = muxer.complete(
        "Ada Lovelace met Alan Turing in London; reply to ada@example.com",
        metadata={"offline": {"reply": "[PERSON_2] wrote to [PERSON_1] in [LOCATION_1]."}},
    )
    assert "[PERSON_1] met [PERSON_2] in [LOCATION_1]; reply to [EMAIL_1]" in wire.payloads[0]
    assert completion.text == "Alan Turing wrote to Ada Lovelace in London."


def test_a_broken_detector_fails_the_request_with_a_typed_error(make_muxer: MakeMuxer) -> None:
    class Broken:
        name = "broken"
        kinds = frozenset({"thing"})

        def detect(self, text: str) -> list[tuple[int, int, str]]:
            return [(0, len(text) + 5, "thing")]

    class Plugin:
        @hookimpl
        def modelmuxer_register_pii_detectors(self, register: Any) -> None:
            register(Broken())

    from modelmuxer import PluginError

    muxer = _muxer(make_muxer, Plugin())
    with pytest.raises(PluginError, match="broken"):
        muxer.complete("hello there")


def test_unknown_kinds_fail_at_construction(make_muxer: MakeMuxer) -> None:
    from modelmuxer import ConfigError

    with pytest.raises(ConfigError, match="person"):
        _muxer(make_muxer, privacy={"redact": True, "kinds": ["person"]})


class Echo:
    """A model that answers with the last message it received, word for word (streamed in
    pieces of three characters): whatever the caller gets back must be what they sent."""

    @hookimpl(tryfirst=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Awaitable[ModelResponse]:
        async def answer() -> ModelResponse:
            text = call.request.messages[-1].text
            return ModelResponse(text=text, finish_reason="stop", usage=Usage(prompt_tokens=1))

        return answer()

    @hookimpl(tryfirst=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> AsyncIterator[StreamDelta]:
        async def deltas() -> AsyncIterator[StreamDelta]:
            text = call.request.messages[-1].text
            for start in range(0, len(text), 3):
                yield StreamDelta(text=text[start : start + 3])
            yield StreamDelta(usage=Usage(prompt_tokens=1), finish_reason="stop")

        return deltas()


_PIECES = st.sampled_from(
    [*VALUES.values(), "[EMAIL_1]", "[PHONE_1", "[", "]", " ", "\n", "a@b.co", "sk-", "(0)", "+1"]
)
#: values between spaces (a value glued to a word, "x123-45-6789", is not one)
_MESSAGES = st.lists(st.one_of(_PIECES, st.text(max_size=5)), min_size=1).map(" ".join)


def test_whatever_is_sent_comes_back_unchanged(make_muxer: MakeMuxer) -> None:
    wire = Wire()
    muxer = _muxer(make_muxer, Echo(), wire)

    @settings(max_examples=150, deadline=None)
    @given(text=_MESSAGES.filter(bool), arguments=st.text(max_size=30))
    def check(text: str, arguments: str) -> None:
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        messages = [
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": arguments or "-"},
            {"role": "user", "content": text},
        ]
        assert muxer.complete(messages).text == text
        chunks = list(muxer.stream(messages))
        assert "".join(c.text for c in chunks) == text
        final = chunks[-1].completion
        assert final is not None
        assert final.text == text
        sent = json.loads(wire.payloads[-1])[-1]["content"]
        for kind, value in VALUES.items():
            assert value not in sent, kind

    check()
