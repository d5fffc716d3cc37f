"""Cache keys: equal requests give equal keys, any answer-changing difference a different key,
and tenants never share a key."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer.cache import context_key, decision_key, exact_key, tenant_of
from modelmuxer.cache.keys import normalize_text
from modelmuxer.pipeline import build_request
from modelmuxer.types import Identity

CANDIDATES = ("offline/openai/gpt-4o-mini", "offline/openai/gpt-4o")

texts = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
params = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.sampled_from([0.0, 0.3, 1.0]),
        "top_p": st.sampled_from([0.5, 1.0]),
        "max_tokens": st.integers(1, 4096),
        "stop": st.lists(st.sampled_from(["\n", "END", "###"]), min_size=1, max_size=2),
        "seed": st.integers(0, 100),
        "response_format": st.just({"type": "json_object"}),
    },
)
tools = st.lists(st.sampled_from(["search", "lookup", "weather"]), max_size=2, unique=True)


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _request(prompt: str, kwargs: dict[str, Any], tool_names: list[str], **extra: Any) -> Any:
    p = dict(kwargs)
    if tool_names:
        p["tools"] = [_tool(n) for n in tool_names]
    return build_request(prompt, params=p, **extra)


def _key(request: Any, strategy: str = "hybrid") -> str:
    return exact_key(request, strategy, CANDIDATES, "org")


@settings(max_examples=60, deadline=None)
@given(texts, params, tools)
def test_equal_requests_give_equal_keys(
    prompt: str, kwargs: dict[str, Any], names: list[str]
) -> None:
    a = _request(prompt, kwargs, names, request_id="a", tags=["x"], metadata={"m": 1})
    b = _request(prompt, kwargs, names, request_id="b")  # other id, tags, metadata
    assert _key(a) == _key(b)
    assert context_key(a, "hybrid", CANDIDATES, "org") == context_key(
        b, "hybrid", CANDIDATES, "org"
    )
    assert decision_key(a, "hybrid") == decision_key(b, "hybrid")


_CHANGES: list[tuple[str, Any]] = [
    ("temperature", 0.7),
    ("top_p", 0.25),
    ("max_tokens", 7),
    ("stop", ["STOP"]),
    ("seed", 12345),
    ("tools", [_tool("other_tool")]),
    ("tool_choice", "required"),
    ("parallel_tool_calls", False),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "x"}}),
]


@settings(max_examples=60, deadline=None)
@given(texts, params, st.sampled_from(_CHANGES))
def test_any_answer_changing_parameter_changes_the_key(
    prompt: str, kwargs: dict[str, Any], change: tuple[str, Any]
) -> None:
    name, value = change
    base = dict(kwargs)
    if name in ("tool_choice", "parallel_tool_calls"):
        base["tools"] = [_tool("t")]
    changed = {**base, name: value}
    if changed == base:
        return
    a, b = build_request(prompt, params=base), build_request(prompt, params=changed)
    assert _key(a) != _key(b)
    assert decision_key(a, "hybrid") != decision_key(b, "hybrid")


@settings(max_examples=40, deadline=None)
@given(texts, texts)
def test_different_prompts_different_keys(a: str, b: str) -> None:
    ra, rb = build_request(a), build_request(b)
    assert (_key(ra) == _key(rb)) == (normalize_text(a) == normalize_text(b))


def test_model_strategy_and_candidates_are_in_the_key() -> None:
    plain = build_request("hi")
    assert _key(build_request("hi", model=CANDIDATES[0])) != _key(
        build_request("hi", model=CANDIDATES[1])
    )
    assert _key(plain) != _key(build_request("hi", model=CANDIDATES[0]))
    assert _key(plain, "hybrid") != _key(plain, "cascade")
    assert _key(plain) != exact_key(plain, "hybrid", CANDIDATES[:1], "org")
    assert _key(plain) != _key(build_request("hi", routing={"deny": [CANDIDATES[1]]}))
    assert _key(plain) != _key(build_request("hi", routing={"cost_weight": 0.9}))
    # a pinned request does not depend on the strategy or the candidate set
    pinned = build_request("hi", model=CANDIDATES[0])
    assert _key(pinned, "hybrid") == exact_key(pinned, "cascade", CANDIDATES[:1], "org")


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=10), st.text(max_size=10), st.text(max_size=10), st.text(max_size=10))
def test_tenants_never_collide(org_a: str, user_a: str, org_b: str, user_b: str) -> None:
    a, b = Identity(org=org_a, user=user_a), Identity(org=org_b, user=user_b)
    assert (tenant_of(a, "org") == tenant_of(b, "org")) == (org_a == org_b)
    same = org_a == org_b and user_a == user_b
    assert (tenant_of(a, "org+user") == tenant_of(b, "org+user")) == same
    ra = build_request("same prompt", identity=a)
    rb = build_request("same prompt", identity=b)
    assert (
        exact_key(ra, "hybrid", CANDIDATES, "org") == exact_key(rb, "hybrid", CANDIDATES, "org")
    ) == (org_a == org_b)


def test_whitespace_and_unicode_form_do_not_split_the_cache() -> None:
    assert _key(build_request("  café ")) == _key(build_request("cafe\u0301"))
    assert _key(build_request("a b")) != _key(build_request("a  b"))


def test_semantic_partition_ignores_only_the_last_message() -> None:
    a = build_request(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}]
    )
    b = build_request(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "y"}]
    )
    c = build_request([{"role": "system", "content": "Be long."}, {"role": "user", "content": "x"}])
    ctx = lambda r: context_key(r, "hybrid", CANDIDATES, "org")  # noqa: E731
    assert ctx(a) == ctx(b)
    assert ctx(a) != ctx(c)
    assert ctx(a) != context_key(
        build_request(a.messages, params={"temperature": 0}), "hybrid", CANDIDATES, "org"
    )
