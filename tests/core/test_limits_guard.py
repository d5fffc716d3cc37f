"""The rate limiter in the pipeline: admission, refusals that say when to retry, token limits
counted from what calls used, model limits steering routing, settings and events."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import (
    ConfigError,
    Muxer,
    NoEligibleModel,
    ProviderError,
    RateLimited,
    RequestRejected,
    hookimpl,
)
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.limits import Limit, LimitSettings, MemoryLimitStore, RateLimiter
from modelmuxer.types import Identity

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O, HAIKU = OFFLINE_MODELS
ANN = {"user": "ann", "org": "acme"}
PROMPT = "Explain how a sliding-window rate limiter works."


class ManualClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Events:
    """A plugin that keeps every operational event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        self.seen.append((name, dict(data)))


def limiter(*limits: Limit, clock: ManualClock | None = None) -> RateLimiter:
    return RateLimiter(MemoryLimitStore(), limits, clock=clock or ManualClock())


def per_user(amount: int, kind: str = "requests", window_s: float = 60.0) -> Limit:
    return Limit.model_validate(
        {"scope": "user", "subject": "*", "kind": kind, "amount": amount, "window_s": window_s}
    )


# -- what a limit is ------------------------------------------------------------------------------


def test_limit_names_and_validation() -> None:
    assert per_user(5).name == "user:*/requests/60s"
    assert Limit(scope="global", amount=10, window_s=1).name == "global/requests/1s"
    model = Limit(scope="model", subject=FOUR_O, kind="tokens", amount=9, window_s=0.5)
    assert model.name == f"model:{FOUR_O}/tokens/0.5s"
    with pytest.raises(ValueError, match="global limit has no subject"):
        Limit(scope="global", subject="x", amount=1, window_s=1)
    with pytest.raises(ValueError, match="needs a subject"):
        Limit(scope="org", amount=1, window_s=1)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Limit(scope="org", subject="*", amount=0, window_s=1)


def test_a_named_subject_wins_over_each_and_missing_fields_do_not_apply() -> None:
    vip = Limit(scope="user", subject="ann", amount=100, window_s=60)
    guard = limiter(per_user(5), vip, Limit(scope="org", subject="*", amount=50, window_s=60))
    ann = {line.limit.scope: line for line in guard.lines(Identity(user="ann", org="acme"))}
    assert ann["user"].limit == vip
    assert ann["org"].subject == "acme"
    assert [line.limit for line in guard.lines(Identity(user="bob"))] == [per_user(5)]
    assert guard.lines(Identity()) == []
    assert guard.model_lines(FOUR_O) == []


# -- admission ------------------------------------------------------------------------------------


async def test_requests_beyond_the_limit_are_refused_with_when_to_retry(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    clock = ManualClock()
    events = Events()
    guard = limiter(per_user(3), clock=clock)
    muxer = make_muxer(OFFLINE_MODELS, plugins=[guard, recorder, events])
    guard.events = muxer.plugins  # Muxer does this for a limiter it builds from settings
    for _ in range(3):
        await muxer.acomplete(PROMPT, identity=ANN)
    with pytest.raises(RateLimited) as refused:
        await muxer.acomplete(PROMPT, identity=ANN)
    error = refused.value
    assert (error.scope, error.subject, error.kind, error.limit, error.window_s) == (
        "user",
        "ann",
        "requests",
        3,
        60.0,
    )
    assert 60.0 <= error.retry_after_s <= 63.0  # a window, up to one slice more
    assert "3 requests per 60 s reached; retry in" in str(error)
    assert recorder.ended[-1][1] is error  # request_end saw the refusal
    assert len(recorder.records) == 3  # no model was called for it
    assert events.seen[-1] == (
        "ratelimit.rejected",
        {
            "scope": "user",
            "subject": "ann",
            "kind": "requests",
            "retry_after_s": error.retry_after_s,
        },
    )
    await muxer.acomplete(PROMPT, identity={"user": "bob"})  # another user: a counter of its own
    clock.now += error.retry_after_s
    await muxer.acomplete(PROMPT, identity=ANN)


async def test_a_refused_request_counts_on_no_limit(make_muxer: MakeMuxer) -> None:
    guard = limiter(per_user(2), Limit(scope="org", subject="acme", amount=3, window_s=60))
    muxer = make_muxer(OFFLINE_MODELS, plugins=[guard])
    for _ in range(2):
        await muxer.acomplete(PROMPT, identity=ANN)
    with pytest.raises(RateLimited, match="user ann"):
        await muxer.acomplete(PROMPT, identity=ANN)
    bob = {"user": "bob", "org": "acme"}
    await muxer.acomplete(PROMPT, identity=bob)  # the org's third: ann's refusal took none
    with pytest.raises(RateLimited, match="org acme") as refused:
        await muxer.acomplete(PROMPT, identity=bob)
    assert refused.value.scope == "org"
    used = {s.limit.scope: s.used for s in guard.states(Identity(user="bob", org="acme"))}
    assert used == {"user": 1, "org": 3}


async def test_a_global_limit_counts_everyone(make_muxer: MakeMuxer) -> None:
    guard = limiter(Limit(scope="global", amount=2, window_s=10))
    muxer = make_muxer(OFFLINE_MODELS, plugins=[guard])
    await muxer.acomplete(PROMPT, identity={"user": "a"})
    await muxer.acomplete(PROMPT)
    with pytest.raises(RateLimited) as refused:
        await muxer.acomplete(PROMPT, identity={"org": "other"})
    assert (refused.value.scope, refused.value.subject) == ("global", None)


async def test_a_refused_stream_raises_before_any_chunk(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(OFFLINE_MODELS, plugins=[limiter(per_user(1))])
    chunks = [c async for c in muxer.astream(PROMPT, identity=ANN)]
    assert chunks[-1].completion is not None
    stream = muxer.astream(PROMPT, identity=ANN)
    with pytest.raises(RateLimited):
        await anext(stream)


def test_route_is_admitted_too(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(OFFLINE_MODELS, plugins=[limiter(per_user(1))])
    muxer.route(PROMPT, identity=ANN)
    with pytest.raises(RateLimited):
        muxer.route(PROMPT, identity=ANN)


def test_other_plugins_reject_before_the_limiter_counts(make_muxer: MakeMuxer) -> None:
    class Gate:
        @hookimpl
        def modelmuxer_request_start(self, ctx: RequestContext) -> None:
            if "forbidden" in ctx.request.messages[-1].text:
                raise RequestRejected("forbidden topic")

    guard = limiter(per_user(1))
    muxer = make_muxer(OFFLINE_MODELS, plugins=[Gate(), guard])
    for _ in range(3):
        with pytest.raises(RequestRejected):
            muxer.complete("a forbidden question", identity=ANN)
    muxer.complete(PROMPT, identity=ANN)  # the rejected ones took nothing


# -- tokens and models ----------------------------------------------------------------------------


async def test_token_limits_count_what_calls_used_and_refuse_once_spent(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    guard = limiter(per_user(150, kind="tokens"))
    muxer = make_muxer(OFFLINE_MODELS, plugins=[guard, recorder])
    answered = 0
    refused: RateLimited | None = None
    for _ in range(10):
        try:
            await muxer.acomplete(PROMPT, identity=ANN, model=MINI)
        except RateLimited as exc:
            refused = exc
            break
        answered += 1
    assert refused is not None
    assert refused.kind == "tokens"
    used = sum(r.usage.total_tokens for r in recorder.records)
    state = guard.states(Identity(**ANN))[0]
    assert state.used == used >= 150  # counted exactly what the calls reported
    assert used - recorder.records[-1].usage.total_tokens < 150  # admitted while not spent
    assert answered == len(recorder.records) >= 2


async def test_cache_hits_count_as_requests_but_use_no_tokens(make_muxer: MakeMuxer) -> None:
    guard = limiter(per_user(10), per_user(10_000, kind="tokens"))
    settings = load_settings(cache={"enabled": True})
    muxer = make_muxer(OFFLINE_MODELS, settings=settings, plugins=[guard])
    first = await muxer.acomplete(PROMPT, identity=ANN, temperature=0)
    hit = await muxer.acomplete(PROMPT, identity=ANN, temperature=0)
    assert hit.cache == "exact"
    used = {s.limit.kind: s.used for s in guard.states(Identity(**ANN))}
    assert used == {"requests": 2, "tokens": first.usage.total_tokens}


async def test_streams_count_their_tokens_at_the_end(make_muxer: MakeMuxer) -> None:
    guard = limiter(per_user(10_000, kind="tokens"))
    muxer = make_muxer(OFFLINE_MODELS, plugins=[guard])
    chunks = [c async for c in muxer.astream(PROMPT, identity=ANN)]
    completion = chunks[-1].completion
    assert completion is not None
    assert guard.states(Identity(**ANN))[0].used == completion.usage.total_tokens > 0


async def test_a_spent_model_is_excluded_with_the_reason(make_muxer: MakeMuxer) -> None:
    events = Events()
    one_call = Limit(scope="model", subject=FOUR_O, amount=1, window_s=60)
    guard = limiter(one_call)
    muxer = make_muxer(OFFLINE_MODELS, strategy="quality_first", plugins=[guard, events])
    guard.events = muxer.plugins
    first = await muxer.acomplete(PROMPT)
    assert first.model == FOUR_O
    second = await muxer.acomplete(PROMPT)
    assert second.model != FOUR_O
    estimate = second.decision.estimate(FOUR_O)
    assert estimate is not None
    assert estimate.excluded is not None
    assert estimate.excluded.startswith(f"rate limit model:{FOUR_O}/requests/60s: 1 of 1")
    assert "retry in" in estimate.excluded
    name, data = events.seen[-1]
    assert (name, data["scope"], data["subject"]) == ("ratelimit.rejected", "model", FOUR_O)


async def test_every_model_spent_is_no_eligible_model(make_muxer: MakeMuxer) -> None:
    each = Limit(scope="model", subject="*", kind="tokens", amount=1, window_s=60)
    muxer = make_muxer(OFFLINE_MODELS, plugins=[limiter(each)])
    for model in OFFLINE_MODELS:
        await muxer.acomplete(PROMPT, model=model)
    with pytest.raises(NoEligibleModel) as none_left:
        await muxer.acomplete(PROMPT)
    assert set(none_left.value.exclusions) == set(OFFLINE_MODELS)
    assert all("rate limit model:" in why for why in none_left.value.exclusions.values())


async def test_failed_calls_count_no_model_request(make_muxer: MakeMuxer) -> None:
    guard = limiter(Limit(scope="model", subject="*", amount=5, window_s=60))
    muxer = make_muxer([MINI], plugins=[guard])
    failing = {"offline": {"fail": "bad_request", "fail_rate": 1.0}}
    with pytest.raises(ProviderError):
        await muxer.acomplete(PROMPT, metadata=failing)
    await muxer.acomplete(PROMPT)
    assert guard.states(model=MINI)[0].used == 1


# -- settings -------------------------------------------------------------------------------------


def test_limits_from_settings_build_a_registered_limiter(make_muxer: MakeMuxer) -> None:
    settings = load_settings(
        limits={"limits": [{"scope": "user", "subject": "*", "amount": 5, "window_s": 60}]}
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    assert isinstance(muxer.limits, RateLimiter)
    assert muxer.plugins.get_plugin("modelmuxer.limits") is muxer.limits
    assert muxer.limits.shared is None  # memory: nothing to bound


def test_a_muxer_without_limits_has_no_limiter(muxer: Muxer) -> None:
    assert muxer.limits is None
    assert muxer.plugins.get_plugin("modelmuxer.limits") is None


def test_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELMUXER_LIMITS",
        '{"store": "redis", "redis_url": "redis://:hunter22@cache:6379/0", "on_unavailable": '
        '"closed", "limits": [{"scope": "org", "subject": "*", "kind": "tokens", '
        '"amount": 100000, "window_s": 60}]}',
    )
    limits = load_settings().limits
    assert limits.on_unavailable == "closed"
    assert limits.limits[0].kind == "tokens"
    assert "hunter22" not in repr(limits)  # the password is masked when shown


def test_bad_limit_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"limits\.limits\.0"):
        load_settings(
            limits={"limits": [{"scope": "global", "subject": "x", "amount": 1, "window_s": 1}]}
        )
    with pytest.raises(ConfigError, match=r"limits\.on_unavailable"):
        load_settings(limits={"on_unavailable": "maybe"})
    bad_url = LimitSettings(store="redis", redis_url="http://:s3cretpass@x", limits=[per_user(1)])
    with pytest.raises(ConfigError, match=r"limits\.redis_url") as error:
        RateLimiter.from_settings(bad_url)
    assert "s3cretpass" not in str(error.value)


def test_two_limits_on_one_counter_are_a_config_error() -> None:
    # only one of them would be enforced, silently
    twice = [
        {"scope": "user", "subject": "ann", "amount": 5, "window_s": 60},
        {"scope": "user", "subject": "ann", "amount": 500, "window_s": 60},
    ]
    with pytest.raises(ConfigError, match=r"limits\.limits: .*'user:ann/requests/60s'"):
        load_settings(limits={"limits": twice})
    other_kind = [twice[0], {**twice[1], "kind": "tokens"}]
    assert len(load_settings(limits={"limits": other_kind}).limits.limits) == 2


async def test_two_muxers_on_one_redis_share_their_counters(
    make_muxer: MakeMuxer, redis_url: str
) -> None:
    prefix = f"test:limits:{uuid.uuid4().hex[:10]}"
    values = {"store": "redis", "redis_url": redis_url, "key_prefix": prefix}
    settings = load_settings(limits={**values, "limits": [per_user(3).model_dump()]})
    first, second = make_muxer(settings=settings), make_muxer(settings=settings)
    assert first.limits is not None
    assert first.limits.shared is not None
    await first.acomplete(PROMPT, identity=ANN)
    await second.acomplete(PROMPT, identity=ANN)
    first.complete(PROMPT, identity=ANN)  # the sync API shares them too
    with pytest.raises(RateLimited):
        await second.acomplete(PROMPT, identity=ANN)
    assert [s.used for s in second.limits.states(Identity(**ANN))] == [3]  # type: ignore[union-attr]
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
    assert keys
    assert all(k.startswith(f"{{{prefix}}}:user:ann/".encode()) for k in keys)
    client.delete(*keys)
    client.close()
