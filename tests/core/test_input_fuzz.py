"""Bad input, generated: whatever a caller passes, request validation returns a valid Request or
raises a typed error; cache keys are equal exactly for requests that must share an answer; and a
muxer over offline models answers or raises a ModelMuxerError, never anything else.

Hypothesis draws from strategies that mix plausible values (so that many examples get past
validation and reach the keys and the pipeline) with junk: arbitrary unicode including lone
surrogates and NUL, huge integers, NaN and infinities, nested containers with non-string keys,
reference cycles, objects that JSON cannot encode.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from _support import OFFLINE_MODELS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modelmuxer import InvalidRequest, Muxer
from modelmuxer.cache import context_key, decision_key, exact_key
from modelmuxer.cache.keys import normalize_text
from modelmuxer.config import MuxerSettings
from modelmuxer.errors import ModelMuxerError
from modelmuxer.pipeline import build_request
from modelmuxer.types import Completion, GenerationParams, Request

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CANDIDATES = tuple(OFFLINE_MODELS)
STRATEGIES = ("hybrid", "cost_optimized", "quality_first", "cascade")
PARAM_NAMES = sorted(GenerationParams.model_fields)

# -- building blocks ----------------------------------------------------------------------------


def _huge() -> int:
    return 10**5000  # more digits than int() and str() convert; hypothesis cannot repr it


_odd_chars = st.sampled_from(["\ud800", "\udfff", "\x00", "\u0301", "\u200b", "\ufeff", "\n"])
#: any text: every unicode category, plus lone surrogates, NUL and invisible characters
any_text = st.text(st.one_of(st.characters(), _odd_chars), max_size=30)
#: text that can be sent (no lone surrogates), mostly non-empty
sendable_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)
huge_ints = st.one_of(
    st.integers(), st.just(2**63), st.just(-(2**63) - 1), st.builds(_huge), st.just(-(10**400))
)
any_floats = st.floats(allow_nan=True, allow_infinity=True)
leaves = st.one_of(st.none(), st.booleans(), huge_ints, any_floats, any_text)
json_keys = st.one_of(any_text, st.integers(), st.tuples(st.integers()), st.booleans())
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(any_text, inner, max_size=3),
        st.dictionaries(json_keys, inner, max_size=2),
    ),
    max_leaves=8,
)


def _tool_name(tool: dict[str, Any]) -> Any:
    return tool["function"]["name"]


def _as_json(value: Any) -> str:
    """``value`` as JSON text, or broken JSON when it has no JSON form."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return '{"unclosed": '


def _cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {"type": "object"}
    loop["properties"] = loop
    return loop


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


junk = st.one_of(
    st.binary(max_size=4),
    st.sets(st.integers(), max_size=2),
    st.builds(object),
    st.just(Ellipsis),
    st.builds(_cyclic),
    st.builds(_deep, st.integers(60, 3000)),
    st.just(math.nan),
    st.just(int),
)
anything = st.one_of(trees, junk)


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, anything)


# -- messages -----------------------------------------------------------------------------------

parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": _or_junk(any_text)}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.fixed_dictionaries(
                {"url": _or_junk(any_text)},
                optional={"detail": st.sampled_from(["auto", "low", "high", "ultra"])},
            ),
        }
    ),
)
tool_calls = st.fixed_dictionaries(
    {
        "id": _or_junk(sendable_text),
        "function": st.fixed_dictionaries(
            {"name": _or_junk(sendable_text)},
            optional={"arguments": _or_junk(st.one_of(any_text, st.builds(_as_json, trees)))},
        ),
    }
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "robot", ""])
message_dicts = st.fixed_dictionaries(
    {"role": _or_junk(roles)},
    optional={
        "content": _or_junk(st.one_of(any_text, st.lists(_or_junk(parts), max_size=2))),
        "name": _or_junk(any_text),
        "tool_calls": _or_junk(st.lists(tool_calls, max_size=2)),
        "tool_call_id": _or_junk(any_text),
    },
)
messages_any = st.one_of(
    any_text,
    message_dicts,
    st.lists(_or_junk(message_dicts), max_size=4),
    st.dictionaries(any_text, anything, max_size=3),
    anything,
)

# -- generation parameters, identity, routing ---------------------------------------------------

tool_specs = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": _or_junk(sendable_text)},
            optional={
                "description": _or_junk(any_text),
                "parameters": _or_junk(st.dictionaries(any_text, trees, max_size=3)),
            },
        ),
    }
)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.one_of(st.floats(-1, 3), any_floats),
    "top_p": st.one_of(st.floats(-1, 2), any_floats),
    "max_tokens": st.one_of(st.integers(-2, 5000), huge_ints, any_floats),
    "stop": st.one_of(any_text, st.lists(any_text, max_size=3)),
    "seed": huge_ints,
    "tools": st.lists(tool_specs, max_size=2),
    "tool_choice": st.one_of(
        st.sampled_from(["auto", "none", "required", "sometimes"]),
        st.fixed_dictionaries({"type": st.just("function"), "function": trees}),
        trees,
    ),
    "response_format": st.one_of(
        st.sampled_from([{"type": "json_object"}, {"type": "text"}]),
        st.dictionaries(any_text, trees, max_size=3),
    ),
    "timeout_s": st.one_of(st.floats(0.5, 30), st.floats(-1, 1e-9), any_floats),
}
params_any = st.dictionaries(
    st.one_of(st.sampled_from(PARAM_NAMES), st.sampled_from(["temprature", "api_key"])),
    st.just(None),
    max_size=4,
).flatmap(
    lambda names: st.fixed_dictionaries(
        {name: _or_junk(PLAUSIBLE.get(name, anything)) for name in names}
    )
)
identity_any = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {}, optional={f: _or_junk(any_text) for f in ("user", "org", "project", "role")}
    ),
    st.dictionaries(any_text, anything, max_size=2),
    anything,
)
model_names = st.one_of(st.sampled_from(CANDIDATES), any_text)
routing_any = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "strategy": _or_junk(st.one_of(st.sampled_from(STRATEGIES), any_text)),
            "model": _or_junk(model_names),
            "allow": _or_junk(st.lists(model_names, max_size=3)),
            "deny": _or_junk(st.lists(model_names, max_size=2)),
            "max_cost_usd": _or_junk(st.one_of(st.floats(-1, 1), any_floats)),
            "quality_target": _or_junk(st.one_of(st.floats(-1, 2), any_floats)),
            "cost_weight": _or_junk(any_floats),
            "cache": _or_junk(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "no_cache": _or_junk(st.booleans()),
                        "no_store": _or_junk(st.booleans()),
                        "semantic_threshold": _or_junk(any_floats),
                    },
                )
            ),
        },
    ),
    anything,
)
_metadata = st.dictionaries(any_text, anything, max_size=3).map(
    lambda d: {k: v for k, v in d.items() if k != "offline"}  # scripts the offline models
)
call_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "identity": identity_any,
        "routing": routing_any,
        "tags": st.one_of(any_text, st.lists(_or_junk(any_text), max_size=3), anything),
        "metadata": st.one_of(_metadata, junk),
        "request_id": _or_junk(any_text),
        "strategy": _or_junk(st.one_of(st.sampled_from(STRATEGIES), any_text)),
        "model": _or_junk(model_names),
    },
)

# -- valid calls, and valid calls with one part broken ---------------------------------------------

whitespace = st.text(st.sampled_from(" \t\n\r\u00a0\u2003\u3000"), max_size=3)
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40).filter(
    lambda t: t.strip()
)
schema_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts, st.integers(2**64, 10**999)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(texts, inner, min_size=1, max_size=3)
    ),
    max_leaves=6,
)
#: JSON-encodable values (no huge integers): tool call arguments, metadata
plain_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
conversations = st.lists(texts, min_size=1, max_size=3)
valid_params = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "max_tokens": st.integers(1, 10**6),
        "stop": st.lists(texts, min_size=1, max_size=2),
        "seed": st.integers(-(2**63), 2**63 - 1),
        "response_format": st.dictionaries(texts, schema_values, min_size=1, max_size=3),
        "tools": st.lists(
            st.builds(
                lambda name, schema: {
                    "type": "function",
                    "function": {"name": name, "parameters": schema},
                },
                st.text("abcdefgh_", min_size=1, max_size=10),
                st.dictionaries(texts, schema_values, max_size=3),
            ),
            min_size=1,
            max_size=2,
            unique_by=_tool_name,
        ),
    },
)


valid_messages = st.one_of(
    texts,
    st.lists(texts, min_size=1, max_size=3).map(lambda turns: _messages(turns)),
    st.tuples(texts, texts).map(
        lambda t: [
            {"role": "system", "content": t[0]},
            {"role": "user", "content": [{"type": "text", "text": t[1]}]},
        ]
    ),
    st.tuples(texts, st.builds(json.dumps, st.dictionaries(texts, plain_values, max_size=2))).map(
        lambda t: [
            {"role": "user", "content": t[0]},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": t[1]}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": t[0]},
        ]
    ),
)
valid_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "identity": st.fixed_dictionaries(
            {}, optional={f: texts for f in ("user", "org", "project", "role")}
        ),
        "routing": st.fixed_dictionaries(
            {},
            optional={
                "allow": st.lists(st.sampled_from(CANDIDATES), min_size=1, max_size=3),
                "deny": st.lists(st.sampled_from(CANDIDATES), max_size=1),
                "max_cost_usd": st.floats(1e-6, 1),
                "quality_target": st.floats(0, 1),
                "cost_weight": st.floats(0, 1),
                "cache": st.fixed_dictionaries(
                    {}, optional={"no_cache": st.booleans(), "no_store": st.booleans()}
                ),
            },
        ),
        "tags": st.lists(texts, max_size=3),
        "metadata": st.dictionaries(texts, plain_values, max_size=2).map(
            lambda d: {k: v for k, v in d.items() if k != "offline"}
        ),
        "request_id": texts,
        "strategy": st.sampled_from(STRATEGIES),
        "model": st.sampled_from(CANDIDATES),
    },
)
_BREAKABLE = ("identity", "routing", "tags", "metadata", "request_id", "strategy", "model")


@st.composite
def calls(draw: st.DrawFn) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``(messages, params, kwargs)``: a valid call, or one with one part replaced by junk."""
    messages = draw(valid_messages)
    params: dict[str, Any] = draw(valid_params)
    kwargs: dict[str, Any] = draw(valid_kwargs)
    broken = draw(st.sampled_from(["nothing", "nothing", "messages", "param", "argument"]))
    if broken == "messages":
        messages = draw(messages_any)
    elif broken == "param":
        name = draw(st.sampled_from([*PARAM_NAMES, "temprature", "api_key"]))
        params[name] = draw(st.one_of(PLAUSIBLE.get(name, anything), anything))
    elif broken == "argument":
        name = draw(st.sampled_from(_BREAKABLE))
        kwargs[name] = draw(call_kwargs.map(lambda kw: kw.get(name, None)) | anything)
    event(f"broken: {broken}")
    return messages, params, kwargs


def _valid_request_invariants(request: Request) -> None:
    """What every Request built from caller input satisfies."""
    assert isinstance(request, Request)
    assert request.messages
    keys = [
        exact_key(request, "hybrid", CANDIDATES, "org"),
        exact_key(request, "hybrid", CANDIDATES, "org+user"),
        context_key(request, "hybrid", CANDIDATES, "org"),
        decision_key(request, "hybrid"),
    ]
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
    # deterministic, and equal for an equal request validated again (new containers)
    assert exact_key(request, "hybrid", CANDIDATES, "org") == keys[0]
    twin = Request.model_validate({name: getattr(request, name) for name in Request.model_fields})
    assert exact_key(twin, "hybrid", CANDIDATES, "org") == keys[0]
    assert decision_key(twin, "hybrid") == keys[3]


def _check_typed_error(exc: ModelMuxerError, field: str | None = None) -> None:
    """A typed error says what is wrong, and an InvalidRequest which field."""
    assert str(exc)
    if isinstance(exc, InvalidRequest):
        if field is not None:
            assert exc.field == field
        if exc.field is not None:
            assert str(exc).startswith(f"{exc.field}: ")


@pytest.fixture(scope="module")
def offline_muxer() -> Iterator[tuple[Muxer, asyncio.Runner]]:
    """A muxer over the offline models with the exact and semantic caches on, and one event
    loop for all the examples."""
    settings = MuxerSettings(cache={"enabled": True, "semantic": True}, load_entrypoints=False)
    runner = asyncio.Runner()
    muxer = Muxer(list(CANDIDATES), settings=settings)
    yield muxer, runner
    runner.run(muxer.aclose())
    runner.close()


# -- request validation -------------------------------------------------------------------------


@FUZZ
@given(call=st.one_of(calls(), st.tuples(messages_any, params_any, call_kwargs)))
def test_any_input_gives_a_request_or_a_typed_error(
    offline_muxer: tuple[Muxer, asyncio.Runner],
    call: tuple[Any, dict[str, Any], dict[str, Any]],
) -> None:
    muxer, _ = offline_muxer
    messages, params, kwargs = call
    try:
        request = muxer.request(messages, **params, **kwargs)
    except ModelMuxerError as exc:
        event(f"raised {type(exc).__name__}")
        _check_typed_error(exc)
        return
    event("valid")
    _valid_request_invariants(request)


@FUZZ
@given(params=params_any, kwargs=call_kwargs)
def test_overriding_a_request_gives_a_request_or_a_typed_error(
    params: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    base = build_request("What is the capital of France?", identity={"org": "acme"})
    try:
        request = build_request(base, params=params, **kwargs)
    except ModelMuxerError:
        return
    _valid_request_invariants(request)
    assert request.messages == base.messages


# -- the whole pipeline -------------------------------------------------------------------------


async def _answer(muxer: Muxer, stream: bool, messages: Any, kwargs: dict[str, Any]) -> Any:
    if not stream:
        return await muxer.acomplete(messages, **kwargs)
    last = None
    async for chunk in muxer.astream(messages, **kwargs):
        last = chunk
    return last.completion if last is not None else None


@FUZZ
@given(stream=st.booleans(), call=calls())
def test_offline_muxer_answers_or_raises_a_modelmuxer_error(
    offline_muxer: tuple[Muxer, asyncio.Runner],
    stream: bool,
    call: tuple[Any, dict[str, Any], dict[str, Any]],
) -> None:
    muxer, runner = offline_muxer
    messages, params, kwargs = call
    params.pop("timeout_s", None)  # a tiny timeout is a typed error too, but costs time
    try:
        completion = runner.run(_answer(muxer, stream, messages, {**params, **kwargs}))
    except ModelMuxerError as exc:
        event(f"raised {type(exc).__name__}")  # --hypothesis-show-statistics shows the mix
        _check_typed_error(exc)
        return
    event("answered")
    assert isinstance(completion, Completion)
    assert completion.model in CANDIDATES


# -- cache keys: equal exactly when the answer must be the same -----------------------------------


def _messages(turns: list[str], pad: tuple[str, str] = ("", ""), form: Any = "NFC") -> list[Any]:
    """Alternating user / assistant turns ending with the user; each text padded and in ``form``."""
    out = []
    for i, turn in enumerate(reversed(turns)):
        role = "user" if i % 2 == 0 else "assistant"
        out.append({"role": role, "content": pad[0] + unicodedata.normalize(form, turn) + pad[1]})
    return list(reversed(out))


def _reordered(value: Any) -> Any:
    """``value`` with every mapping's keys in reverse order (the same JSON object)."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def _all_keys(request: Request, candidates: tuple[str, ...] = CANDIDATES) -> tuple[str, ...]:
    return (
        exact_key(request, "hybrid", candidates, "org"),
        context_key(request, "hybrid", candidates, "org"),
        decision_key(request, "hybrid"),
    )


@FUZZ
@given(
    turns=conversations,
    params=valid_params,
    pad=st.tuples(whitespace, whitespace),
    form=st.sampled_from(["NFC", "NFD"]),
    org=st.one_of(st.none(), texts),
    users=st.tuples(st.one_of(st.none(), texts), st.one_of(st.none(), texts)),
    deny=st.lists(st.sampled_from(CANDIDATES), max_size=2, unique=True),
)
def test_requests_that_must_share_an_answer_share_every_key(
    turns: list[str],
    params: dict[str, Any],
    pad: tuple[str, str],
    form: str,
    org: str | None,
    users: tuple[str | None, str | None],
    deny: list[str],
) -> None:
    a = build_request(
        _messages(turns),
        params=params,
        identity={"org": org, "user": users[0]},
        routing={"deny": deny},
        request_id="first",
        tags=["a"],
    )
    b = build_request(
        _messages(turns, pad, form),  # padded ends, another normalization form
        params={**_reordered(params), "timeout_s": 5.0},  # key order; a timeout
        identity={"org": org, "user": users[1], "role": "admin"},  # another user of the org
        routing={"deny": list(reversed(deny)), "cache": {"no_store": True}},
        request_id="second",
        tags=["b", "c"],
        metadata={"trace": "x"},
    )
    assert _all_keys(a) == _all_keys(b, tuple(reversed(CANDIDATES)))


def _mutations(request: Request) -> list[tuple[str, Request, bool]]:
    """``(what, changed request, whether the semantic partition must change too)``: each
    changes the answer the request may get."""
    params = request.params.model_dump(exclude_unset=True)
    messages = [m.model_dump(exclude_none=True) for m in request.messages]
    last = messages[-1]
    first = messages[0]

    def rebuilt(**changes: Any) -> Request:
        fields = {
            "messages": messages,
            "params": params,
            "identity": request.identity,
            "routing": request.routing,
            **changes,
        }
        return Request.model_validate(fields)

    temperature = params.get("temperature")
    out = [
        (
            "last text",
            rebuilt(messages=[*messages[:-1], {**last, "content": "x" + last["content"]}]),
            False,
        ),
        (
            "earlier turn",
            rebuilt(messages=[{"role": "system", "content": "Be terse."}, *messages]),
            True,
        ),
        (
            "temperature",
            rebuilt(params={**params, "temperature": 0.25 if temperature != 0.25 else 0.5}),
            True,
        ),
        (
            "max_tokens",
            rebuilt(params={**params, "max_tokens": params.get("max_tokens", 7) + 1}),
            True,
        ),
        ("seed", rebuilt(params={**params, "seed": params.get("seed", 0) ^ 1}), True),
        ("stop", rebuilt(params={**params, "stop": [*params.get("stop", []), "\x1f"]}), True),
        (
            "response_format",
            rebuilt(
                params={**params, "response_format": {"type": "json_object", "marker": "\x1e"}}
            ),
            True,
        ),
        ("tool_choice", rebuilt(params={**params, "tool_choice": "none"}), True),
        ("pinned model", rebuilt(routing={"model": CANDIDATES[1]}), True),
        ("denied model", rebuilt(routing={"deny": [CANDIDATES[0]]}), True),
        ("max cost", rebuilt(routing={"max_cost_usd": 0.123}), True),
        ("org", rebuilt(identity={"org": f"{request.identity.org}-other"}), True),
    ]
    if len(messages) > 1:
        out.append(
            (
                "first turn",
                rebuilt(messages=[{**first, "content": first["content"] + "?"}, *messages[1:]]),
                True,
            )
        )
    return out


@FUZZ
@given(turns=conversations, params=valid_params, org=st.one_of(st.none(), texts))
def test_anything_that_changes_the_answer_changes_the_key(
    turns: list[str], params: dict[str, Any], org: str | None
) -> None:
    request = build_request(_messages(turns), params=params, identity={"org": org})
    exact = exact_key(request, "hybrid", CANDIDATES, "org")
    partition = context_key(request, "hybrid", CANDIDATES, "org")
    for what, changed, partition_changes in _mutations(request):
        assert exact_key(changed, "hybrid", CANDIDATES, "org") != exact, what
        changed_partition = context_key(changed, "hybrid", CANDIDATES, "org")
        assert (changed_partition != partition) is partition_changes, what
        if what != "org":  # routing never reads the tenant
            assert decision_key(changed, "hybrid") != decision_key(request, "hybrid"), what
    # the strategy and the candidate set are part of what routing chooses from
    assert exact_key(request, "cost_optimized", CANDIDATES, "org") != exact
    assert exact_key(request, "hybrid", CANDIDATES[:2], "org") != exact


# A small world, so that hypothesis draws many pairs that collide and many that differ.
SMALL_TEXTS = ["hi", " hi", "hi\n", "Hi", "h i", "héllo", "he\u0301llo", "hé llo"]
SMALL_FORMATS = [
    None,
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "a", "strict": True}},
    {"json_schema": {"strict": True, "name": "a"}, "type": "json_schema"},  # same, reordered
    {"type": "json_schema", "json_schema": {"name": "a", "strict": False}},
]
small_requests = st.fixed_dictionaries(
    {
        "system": st.sampled_from([None, "Be brief.", "Be brief. "]),
        "text": st.sampled_from(SMALL_TEXTS),
        "temperature": st.sampled_from([None, 0.0, -0.0, 0.7]),
        "max_tokens": st.sampled_from([None, 5, 6]),
        "response_format": st.sampled_from(range(len(SMALL_FORMATS))),
        "org": st.sampled_from([None, "acme", "ACME"]),
        "user": st.sampled_from([None, "u1", "u2"]),
        "model": st.sampled_from([None, *CANDIDATES[:2]]),
        "deny": st.sampled_from([(), (CANDIDATES[2],), (CANDIDATES[2], CANDIDATES[2])]),
    }
)


def _small(spec: dict[str, Any]) -> Request:
    messages = [{"role": "system", "content": spec["system"]}] if spec["system"] else []
    messages.append({"role": "user", "content": spec["text"]})
    params = {
        k: v
        for k, v in (
            ("temperature", spec["temperature"]),
            ("max_tokens", spec["max_tokens"]),
            ("response_format", SMALL_FORMATS[spec["response_format"]]),
        )
        if v is not None
    }
    return build_request(
        messages,
        params=params,
        identity={"org": spec["org"], "user": spec["user"]},
        routing={"deny": list(spec["deny"])},
        model=spec["model"],
    )


def _answer_view(spec: dict[str, Any], scope: str) -> tuple[Any, ...]:
    """What the answer depends on, computed independently of the key code."""
    return (
        spec["system"] and normalize_text(spec["system"]),
        unicodedata.normalize("NFC", spec["text"].strip()),
        spec["temperature"],  # == treats -0.0 and 0.0 as equal, as the answer does
        spec["max_tokens"],
        SMALL_FORMATS[spec["response_format"]],  # == ignores key order, as JSON does
        spec["org"],
        spec["user"] if scope == "org+user" else None,
        spec["model"],
        None if spec["model"] else frozenset(spec["deny"]),
    )


@settings(max_examples=300, deadline=None)
@given(a=small_requests, b=small_requests, scope=st.sampled_from(["org", "org+user"]))
def test_keys_are_equal_exactly_when_the_answer_is(
    a: dict[str, Any], b: dict[str, Any], scope: Any
) -> None:
    same_answer = _answer_view(a, scope) == _answer_view(b, scope)
    key_a = exact_key(_small(a), "hybrid", CANDIDATES, scope)
    assert (key_a == exact_key(_small(b), "hybrid", CANDIDATES, scope)) is same_answer


# -- regressions: what the fuzzing found ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tags": 5}, "tags"),
        ({"tags": [["unhashable"]]}, "tags.0"),
        ({"metadata": 5}, "metadata"),
        ({"metadata": "ab"}, "metadata"),
        ({"strategy": 5}, "routing.strategy"),
        ({"model": ["m"]}, "routing.model"),
        ({"params": [("temperature", 1)]}, "params"),
        ({"params": {1: 2, "x": 3}}, "1"),
        ({"params": {"temperature": math.nan}}, "params.temperature"),
        ({"params": {"seed": 10**30}}, "params.seed"),
        ({"params": {"max_tokens": 2**70}}, "params.max_tokens"),
        ({"params": {"response_format": {"a": {(1, 2): 3}}}}, "params.response_format"),
        ({"params": {"response_format": {"a": {1: 3, "b": 2}}}}, "params.response_format"),
        ({"params": {"response_format": {"a": _cyclic()}}}, "params.response_format"),
        ({"params": {"response_format": {"a": _deep(100)}}}, "params.response_format"),
        ({"params": {"tool_choice": {"type": "function", "x": {1: 2}}}}, "params.tool_choice"),
        ({"identity": {"org": "\udfff"}}, "identity.org"),
        ({"tags": ["ok", "\ud800"]}, "tags.1"),
        ({"request_id": "id\udc00"}, "request_id"),
    ],
)
def test_malformed_arguments_are_invalid_requests_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    """These raised TypeError, ValueError or RecursionError, were let through unvalidated
    (``strategy=5``), or crashed later in a cache key, before the fixes."""
    for base in ("Hello there", build_request("Hello there")):
        with pytest.raises(InvalidRequest) as info:
            build_request(base, **kwargs)
        assert info.value.field == field


def test_a_lone_surrogate_in_the_prompt_names_the_message() -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request("broken \ud83d text")  # half of an emoji, as a bad JSON decoder leaves it
    assert info.value.field == "messages.0.content"
    assert "surrogate" in str(info.value)


def test_a_request_id_given_with_a_request_replaces_its_id() -> None:
    request = build_request("Hello there", request_id="old")
    assert build_request(request, request_id="new").request_id == "new"


def _key_with_format(response_format: dict[str, Any]) -> str:
    # Built past validation (which refuses huge integers): the key must still be computed.
    request = build_request("Hello")
    params = request.params.model_copy(update={"response_format": response_format})
    return exact_key(request.model_copy(update={"params": params}), "hybrid", CANDIDATES, "org")


def test_keys_of_requests_with_parts_json_cannot_encode() -> None:
    """Huge integers and non-JSON leaves used to raise from the key; they key (tagged), stably,
    and never like a request whose parts encode alike in plain JSON."""
    huge = _key_with_format({"type": "json_schema", "n": 10**5000})
    assert huge == _key_with_format({"type": "json_schema", "n": 10**5000})
    assert huge != _key_with_format({"type": "json_schema", "n": 10**5000 + 1})
    assert _key_with_format({"k": {2: "a", "2": "b"}}) != _key_with_format({"k": {"2": "b"}})
    as_set = build_request("Hello", params={"response_format": {"enum": {"a", "b"}}})
    as_text = build_request("Hello", params={"response_format": {"enum": "set:{'a', 'b'}"}})
    assert exact_key(as_set, "hybrid", CANDIDATES, "org") != exact_key(
        as_text, "hybrid", CANDIDATES, "org"
    )
    tool = {"type": "function", "function": {"name": "f", "parameters": {"x": {1}}}}
    odd_tool = build_request("Hello", params={"tools": [tool]})
    assert len(exact_key(odd_tool, "hybrid", CANDIDATES, "org")) == 32


def test_an_integer_no_json_encoder_prints_is_refused() -> None:
    """A tool schema holding 10**5000 crashed the token estimate (ValueError from json.dumps)
    on its way to the model; it is an invalid request now."""
    tool = {"type": "function", "function": {"name": "f", "parameters": {"max": 10**5000}}}
    with pytest.raises(InvalidRequest) as info:
        build_request("Hello", params={"tools": [tool]})
    assert info.value.field == "params.tools.0.function.parameters"
    assert build_request("Hello", params={"response_format": {"n": 10**999}})  # 1000 digits: ok


_KEYS_SCRIPT = """
import json, sys
from modelmuxer.cache import exact_key
from modelmuxer.pipeline import build_request
candidates = ("a", "b")
requests = [
    build_request("Grüße \\u00e9 \\U0001f600", identity={"org": "ünï"}),
    build_request("x", params={"response_format": {"n": 10**900, "f": float("nan")}}),
    build_request("x", params={"response_format": {"enum": {"alpha", "beta", "gamma"}}}),
    build_request("x", params={"tools": [{"type": "function", "function": {"name": "f",
        "parameters": {"properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}}}]}),
]
print(json.dumps([exact_key(r, "hybrid", candidates, "org+user") for r in requests]))
"""


@pytest.mark.slow
def test_keys_are_the_same_in_every_process() -> None:
    """No salted ``hash()`` and no set-order dependence: processes with different hash seeds
    compute the same keys."""
    keys = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _KEYS_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        keys.append(json.loads(done.stdout))
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == len(keys[0])


def test_minus_zero_and_zero_share_a_key() -> None:
    a = build_request("Hi", params={"temperature": 0.0}, routing={"cost_weight": 0.0})
    b = build_request("Hi", params={"temperature": -0.0}, routing={"cost_weight": -0.0})
    assert exact_key(a, "hybrid", CANDIDATES, "org") == exact_key(b, "hybrid", CANDIDATES, "org")
    assert decision_key(a, "hybrid") == decision_key(b, "hybrid")


@given(value=st.one_of(trees, junk))
@settings(max_examples=100, deadline=None)
def test_a_response_format_of_anything_is_a_key_or_a_typed_error(value: Any) -> None:
    try:
        request = build_request(
            "Hello", params={"response_format": {"type": "json_schema", "x": value}}
        )
    except InvalidRequest as exc:
        _check_typed_error(exc, "params.response_format")
        return
    _valid_request_invariants(request)
