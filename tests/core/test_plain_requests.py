"""Requests built without pydantic's walk equal the validated ones.

``build_request`` puts a request of plain text messages together from values it has checked
itself; anything else takes the validating path. Each is compared here with what validation
builds (values, the fields reported as set, dumps), on inputs that reach both paths, and the
inputs the shortcut must refuse are checked to fail or pass exactly as before. Decisions are
validated (in pydantic-core, which is faster there): a strategy's values of other types are
coerced as declared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import modelmuxer.pipeline.inputs as inputs
from modelmuxer import Muxer
from modelmuxer.context import RequestContext
from modelmuxer.errors import InvalidRequest
from modelmuxer.pipeline import build_request
from modelmuxer.strategies.base import Candidate, RoutingTask
from modelmuxer.testing import make_card
from modelmuxer.types import Identity, Request


def _validated(*args: Any, **kwargs: Any) -> Request | InvalidRequest:
    saved = inputs._plain_request
    inputs._plain_request = lambda *a, **k: None  # type: ignore[assignment]
    try:
        return build_request(*args, **kwargs)
    except InvalidRequest as exc:
        return exc
    finally:
        inputs._plain_request = saved  # type: ignore[assignment]


def _built(*args: Any, **kwargs: Any) -> Request | InvalidRequest:
    try:
        return build_request(*args, **kwargs)
    except InvalidRequest as exc:
        return exc


def _same_model(a: BaseModel, b: BaseModel, parts_a: list[Any], parts_b: list[Any]) -> None:
    """``a`` and ``b`` are equal, report the same fields as set (and so do their ``parts``),
    and dump alike."""
    assert a == b
    assert a.model_fields_set == b.model_fields_set
    for x, y in zip(parts_a, parts_b, strict=True):
        assert x.model_fields_set == y.model_fields_set
    assert a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True)
    assert a.model_dump_json() == b.model_dump_json()


def _same(a: Request | InvalidRequest, b: Request | InvalidRequest) -> None:
    if isinstance(a, InvalidRequest) or isinstance(b, InvalidRequest):
        assert isinstance(a, InvalidRequest), (a, b)
        assert isinstance(b, InvalidRequest), (a, b)
        assert (str(a), a.field) == (str(b), b.field)
        return
    if a.request_id != b.request_id:  # none given: each build drew a fresh one
        assert "request_id" not in a.model_fields_set | b.model_fields_set
        a = a.model_copy(update={"request_id": b.request_id})
        a.__pydantic_fields_set__.discard("request_id")
    _same_model(a, b, a.messages, b.messages)
    assert hash(a.identity) == hash(b.identity)
    assert a.messages[0].to_openai() == b.messages[0].to_openai()


_ID = "r" * 32


def _compare(*args: Any, **kwargs: Any) -> Request | InvalidRequest:
    kwargs.setdefault("request_id", _ID)
    built = _built(*args, **kwargs)
    _same(built, _validated(*args, **kwargs))
    return built


def test_plain_text_requests_equal_the_validated_ones() -> None:
    cases: list[tuple[Any, dict[str, Any]]] = [
        ("What is the capital of France?", {}),
        ("Quelle est la capitale de la France ? Réponds en un mot.", {}),
        ("日本の首都はどこですか", {"tags": ["jp", "geo"]}),
        (
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Capital of Peru?"},
            ],
            {"metadata": {"team": "a", "n": 1}, "identity": Identity(user="u", org="o")},
        ),
        ({"role": "user", "content": "one message as a dict"}, {}),
        ("with parameters", {"params": {"temperature": 0.2, "max_tokens": 50, "stop": "x"}}),
        ("pinned", {"model": "acme/a", "strategy": "cascade"}),
        ("routed", {"routing": {"max_cost_usd": 0.01, "deny": ["acme/b"]}}),
    ]
    for messages, kwargs in cases:
        assert isinstance(_compare(messages, **kwargs), Request)
        assert isinstance(_compare(messages, **kwargs, request_id=None), Request)


def test_a_request_without_an_id_gets_a_fresh_one_and_reports_it_unset() -> None:
    first, second = build_request("hello"), build_request("hello")
    assert first.request_id != second.request_id
    assert len(first.request_id) == 32
    reference = _validated("hello")
    assert isinstance(reference, Request)
    assert first.model_fields_set == reference.model_fields_set
    assert "request_id" not in first.model_fields_set


def test_what_the_shortcut_refuses_fails_or_passes_exactly_as_validation_does() -> None:
    bad_text = "lone \ud800 surrogate"
    cases: list[tuple[Any, dict[str, Any]]] = [
        ("", {}),
        ("   ", {}),
        ([], {}),
        ([{"role": "user", "content": ""}], {}),
        ([{"role": "user", "content": bad_text}], {}),
        ([{"role": "user", "content": "x", "name": "alice"}], {}),
        ([{"role": "robot", "content": "x"}], {}),
        ([{"role": "user", "content": [{"type": "text", "text": "parts"}]}], {}),
        ([{"role": "user", "content": "x", "extra": 1}], {}),
        ([{"role": "tool", "content": "42"}], {}),
        ([{"role": "user"}], {}),
        ("x", {"params": {"temperature": 9}}),
        ("x", {"params": {"bogus": 1}}),
        ("x", {"identity": {"user": "u"}}),
        ("x", {"identity": {"user": 5}}),
        ("x", {"metadata": {1: "int key"}}),
        ("x", {"tags": ["ok", bad_text]}),
        ("x", {"tags": [b"bytes"]}),
        ("x", {"request_id": ""}),
        ("x", {"request_id": bad_text}),
    ]
    for messages, kwargs in cases:
        _compare(messages, **kwargs)


def test_the_request_keeps_nothing_of_the_callers_containers() -> None:
    messages = [{"role": "user", "content": "hello"}]
    metadata: dict[str, Any] = {"k": "v"}
    request = build_request(messages, metadata=metadata, request_id=_ID)
    messages[0]["content"] = "changed"
    messages.append({"role": "user", "content": "more"})
    metadata["k"] = "changed"
    assert request.messages[0].content == "hello"
    assert len(request.messages) == 1
    assert request.metadata == {"k": "v"}
    with pytest.raises(ValidationError, match="frozen"):  # as a validated request is
        request.messages[0].content = "x"  # type: ignore[misc]


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "nobody"]), "content": _text}
) | st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]), "content": _text, "name": _text}
)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(_message, max_size=4) | _text,
    tags=st.none() | st.lists(_text, max_size=3),
    metadata=st.none() | st.dictionaries(_text, st.integers(), max_size=2),
    params=st.none() | st.fixed_dictionaries({"temperature": st.floats(-1, 3)}),
)
def test_generated_requests_equal_the_validated_ones(
    messages: Any, tags: Any, metadata: Any, params: Any
) -> None:
    _compare(messages, tags=tags, metadata=metadata, params=params)


# -- decisions ----------------------------------------------------------------------------------

_CARDS = [
    make_card(
        f"acme/m{i}",
        input_price_per_mtok=0.2 * (i + 1),
        output_price_per_mtok=0.8 * (i + 1),
        quality=0.5 + 0.1 * i,
    )
    for i in range(4)
]


def _task(strategy: str = "hybrid") -> RoutingTask:
    muxer = Muxer(_CARDS, load_entrypoints=False)
    request = muxer.request("Write a function that reverses a list, with tests.")
    ctx = RequestContext(request, strategy, False, datetime.now(UTC), 0.0)
    return muxer._router.task(ctx)


def test_a_decision_with_values_of_other_types_is_validated() -> None:
    task = _task()
    card = task.candidates[0].card
    task.candidates = (Candidate(card, 1, 0, 0, 2), *task.candidates[1:])  # ints (a plugin's)
    decision = task.decide("hybrid", [card.id], "ints", scores={card.id: 1})
    estimate = decision.estimate(card.id)
    assert estimate is not None
    assert type(estimate.quality) is float
    assert type(estimate.score) is float
    with pytest.raises(Exception, match="at least 1"):
        task.decide("hybrid", [], "no model")
    with pytest.raises(Exception, match="at least 1"):
        task.decide("hybrid", [card.id], "")
