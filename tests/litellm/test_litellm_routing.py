"""ModelMuxer picks the deployment; LiteLLM's cooldowns, retries and fallbacks keep working."""

from __future__ import annotations

from typing import Any

import pytest
from _litellm_support import CHEAP, EASY, HARD, STRONG, MakeRouter, RecordSink, deployment
from _litellm_support import wait_for_records as wait

from modelmuxer import hookimpl
from modelmuxer.context import RequestContext
from modelmuxer.errors import NoEligibleModel, RequestRejected
from modelmuxer.types import ModelCard
from modelmuxer_litellm import AUTO_GROUP, ROUTING_KEY, STRATEGY_KEY, ModelMuxerCallback, _compat

pytestmark = pytest.mark.litellm

CHAT = [deployment("mini", "chat", CHEAP), deployment("4o", "chat", STRONG)]


def _served(response: object) -> str:
    return str(response._hidden_params["model_id"])  # type: ignore[attr-defined]


def _choice(response: object) -> dict[str, str]:
    return response._hidden_params["modelmuxer"]  # type: ignore[attr-defined,no-any-return]


async def test_strategy_picks_within_the_group(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT)
    easy = await router.acompletion(model="chat", messages=EASY)
    hard = await router.acompletion(model="chat", messages=HARD)
    assert (_served(easy), _served(hard)) == ("mini", "4o")
    assert easy.choices[0].message.content == "from mini"
    assert _choice(easy)["deployment"] == "mini"
    assert _choice(easy)["strategy"] == "hybrid"
    assert _choice(easy)["reason"].startswith("mini:")
    assert _choice(hard)["group"] == "chat"


def _our_headers(response: object) -> dict[str, str]:
    headers = response._hidden_params.get("additional_headers") or {}  # type: ignore[attr-defined]
    # LiteLLM passes an answer's headers on with its ``llm_provider-`` prefix
    return {k.removeprefix("llm_provider-"): v for k, v in headers.items() if "x-modelmuxer-" in k}


async def test_no_headers_on_a_library_routers_answers(make_router: MakeRouter) -> None:
    router, callback = make_router(CHAT)
    assert callback.response_headers is False
    plain = await router.acompletion(model="chat", messages=EASY)
    assert _our_headers(plain) == {}  # nobody passes them on: the choice is in hidden params
    assert _choice(plain)["deployment"] == "mini"


async def test_headers_when_asked_for(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT, response_headers=True)
    answer = await router.acompletion(model="chat", messages=HARD)
    assert _our_headers(answer) == {
        "x-modelmuxer-deployment": "4o",
        "x-modelmuxer-strategy": "hybrid",
        "x-modelmuxer-request-id": _choice(answer)["request_id"],
    }


def test_the_proxy_callback_returns_headers_unless_told_not_to() -> None:
    from modelmuxer_litellm import ModelMuxerCallback

    assert ModelMuxerCallback.for_proxy().response_headers is True
    assert ModelMuxerCallback.for_proxy(response_headers=False).response_headers is False


async def test_strategy_named_in_metadata(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT)
    answer = await router.acompletion(
        model="chat", messages=EASY, metadata={STRATEGY_KEY: "quality_first"}
    )
    assert _served(answer) == "4o"
    assert _choice(answer)["strategy"] == "quality_first"


async def test_auto_group_chooses_across_groups(make_router: MakeRouter) -> None:
    router, _ = make_router(
        [deployment("mini", "cheap", CHEAP), deployment("4o", "strong", STRONG)]
    )
    easy = await router.acompletion(model=AUTO_GROUP, messages=EASY)
    hard = await router.acompletion(model=AUTO_GROUP, messages=HARD)
    assert (_choice(easy)["deployment"], _choice(hard)["deployment"]) == ("mini", "4o")
    assert hard.choices[0].message.content == "from 4o"
    assert _choice(hard)["group"] == AUTO_GROUP


async def test_auto_group_can_be_renamed_or_left_out(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT, auto_group="any")
    answer = await router.acompletion(model="any", messages=EASY)
    assert _choice(answer)["deployment"] == "mini"
    other, _ = make_router([deployment("solo", "solo", CHEAP)], auto_group=None)
    with pytest.raises(Exception, match=r"(?i)model"):
        await other.acompletion(model=AUTO_GROUP, messages=EASY)


async def test_cooled_down_deployment_is_never_chosen(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    """The preferred (cheap) deployment fails with a 429: LiteLLM cools it down and retries; the
    retry and every later call go to the other deployment, although the strategy prefers it."""
    router, _ = make_router(
        [deployment("mini", "chat", CHEAP, answer="litellm.RateLimitError"), CHAT[1]],
        router_kwargs={"num_retries": 2, "cooldown_time": 600},
    )
    first = await router.acompletion(model="chat", messages=EASY)
    assert _served(first) == "4o"
    assert await _compat.active_cooldowns(router, ["mini", "4o"]) == {"mini"}
    later = [await router.acompletion(model="chat", messages=EASY) for _ in range(5)]
    assert {_served(r) for r in later} == {"4o"}
    records = await wait(sink, 7)
    assert [r.model for r in records].count("mini") == 1  # only the attempt that failed


async def test_auto_group_skips_deployments_cooling_in_their_own_group(
    make_router: MakeRouter,
) -> None:
    router, _ = make_router(
        [
            deployment("mini", "cheap", CHEAP, answer="litellm.RateLimitError"),
            deployment("mini2", "cheap", CHEAP),
            deployment("4o", "strong", STRONG),
        ],
        router_kwargs={"num_retries": 1, "cooldown_time": 600},
    )
    await router.acompletion(model="cheap", messages=EASY)  # mini fails and cools down
    assert "mini" in await _compat.active_cooldowns(router, ["mini"])
    for _ in range(3):
        answer = await router.acompletion(model=AUTO_GROUP, messages=EASY)
        assert _choice(answer)["deployment"] != "mini"


async def test_fallbacks_across_groups_still_fire(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    router, _ = make_router(
        [
            deployment("chat-a", "chat", CHEAP, answer="litellm.InternalServerError"),
            deployment("chat-b", "chat", STRONG, answer="litellm.InternalServerError"),
            deployment("backup", "backup", STRONG),
        ],
        router_kwargs={"num_retries": 1, "fallbacks": [{"chat": ["backup"]}]},
    )
    answer = await router.acompletion(model="chat", messages=EASY)
    assert answer.choices[0].message.content == "from backup"
    assert _choice(answer)["group"] == "backup"
    records = await wait(sink, 3)
    assert [r.outcome for r in records if r.model == "backup"] == ["ok"]
    failed = {r.model for r in records if r.outcome == "error"}
    assert failed <= {"chat-a", "chat-b"}
    assert failed


async def test_context_window_is_respected(make_router: MakeRouter) -> None:
    """A prompt too long for the cheap deployment's window goes to the one it fits."""
    router, _ = make_router(
        [
            deployment("small", "chat", CHEAP, max_input_tokens=2000),
            deployment("large", "chat", STRONG),
        ]
    )
    long_prompt = [{"role": "user", "content": "hello there " * 3000}]
    answer = await router.acompletion(model="chat", messages=long_prompt)
    assert _served(answer) == "large"
    short = await router.acompletion(model="chat", messages=EASY)
    assert _served(short) == "small"


async def test_no_deployment_fits_is_a_clear_error(make_router: MakeRouter) -> None:
    router, _ = make_router([deployment("small", "chat", CHEAP, max_input_tokens=500)])
    with pytest.raises(Exception, match="context window") as caught:
        await router.acompletion(model="chat", messages=[{"role": "user", "content": "x " * 5000}])
    assert "small" in str(caught.value)


async def test_tool_calls_go_to_a_deployment_that_can_call_tools(make_router: MakeRouter) -> None:
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    router, _ = make_router(
        [
            deployment("no-tools", "chat", CHEAP, supports_function_calling=False),
            deployment("tools", "chat", STRONG, mock_tool_calls=[tool_call]),
        ]
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    answer = await router.acompletion(
        model="chat", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools
    )
    assert _served(answer) == "tools"
    assert answer.choices[0].message.tool_calls[0].function.name == "get_weather"
    plain = await router.acompletion(model="chat", messages=EASY)
    assert _served(plain) == "no-tools"


async def test_streaming_is_routed(make_router: MakeRouter, sink: RecordSink) -> None:
    router, _ = make_router(CHAT)
    stream = await router.acompletion(model="chat", messages=HARD, stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == "from 4o"
    (record,) = await wait(sink, 1)
    assert (record.model, record.streamed, record.outcome) == ("4o", True, "ok")
    assert record.reason.startswith("4o:")


def test_sync_completion_is_routed(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT)
    easy = router.completion(model="chat", messages=EASY)
    hard = router.completion(model="chat", messages=HARD)
    assert (_served(easy), _served(hard)) == ("mini", "4o")
    chunks = router.completion(model="chat", messages=HARD, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from 4o"


def test_sync_completion_can_be_left_to_litellm(make_router: MakeRouter) -> None:
    router, _ = make_router([deployment("only", "chat", CHEAP)], route_sync_calls=False)
    answer = router.completion(model="chat", messages=EASY)
    assert _served(answer) == "only"
    assert "modelmuxer" not in answer._hidden_params


class DenyStrongForInterns:
    """A policy: interns may not use the strong deployment."""

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: list[ModelCard]
    ) -> dict[str, str] | None:
        if ctx.request.identity.role == "intern":
            return {"4o": "interns use the cheap deployment"}
        return None


class RejectUser:
    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        if ctx.request.identity.user == "mallory":
            raise RequestRejected("mallory is blocked")


async def test_policies_see_the_request_identity(make_router: MakeRouter) -> None:
    router, _ = make_router(CHAT, plugins=[DenyStrongForInterns(), RejectUser()])
    intern = await router.acompletion(model="chat", messages=HARD, metadata={"role": "intern"})
    assert _served(intern) == "mini"
    staff = await router.acompletion(model="chat", messages=HARD, metadata={"role": "staff"})
    assert _served(staff) == "4o"
    with pytest.raises(Exception, match="mallory is blocked"):
        await router.acompletion(model="chat", messages=EASY, user="mallory")


async def test_policy_excluding_everything_raises_no_eligible_model(
    make_router: MakeRouter,
) -> None:
    class DenyAll:
        @hookimpl
        def modelmuxer_filter_candidates(
            self, ctx: RequestContext, candidates: list[ModelCard]
        ) -> dict[str, str]:
            return {card.id: "closed for maintenance" for card in candidates}

    router, _ = make_router(CHAT, plugins=[DenyAll()])
    with pytest.raises(Exception, match="closed for maintenance") as caught:
        await router.acompletion(model="chat", messages=EASY)
    assert isinstance(caught.value, NoEligibleModel) or "NoEligibleModel" in repr(caught.value)


async def test_two_routers_in_one_process_stay_apart(make_router: MakeRouter) -> None:
    """LiteLLM's callback list is process-wide: each callback only routes its own router."""
    first, _ = make_router(CHAT)
    second, _ = make_router(
        [deployment("x-mini", "chat", CHEAP), deployment("x-4o", "chat", STRONG)],
        strategy="quality_first",
    )
    assert _served(await first.acompletion(model="chat", messages=EASY)) == "mini"
    assert _served(await second.acompletion(model="chat", messages=EASY)) == "x-4o"


def test_hidden_params_are_read_from_any_response_shape() -> None:
    """LiteLLM's responses keep them as a pydantic private attribute; other objects (a stream
    wrapper, a test double) as a plain attribute: the same dict either way."""
    from types import SimpleNamespace

    from litellm import ModelResponse

    from modelmuxer_litellm.callback import _hidden_params

    response = ModelResponse()
    response._hidden_params = {"model_id": "x"}
    assert _hidden_params(response) is response._hidden_params
    plain = SimpleNamespace(_hidden_params={"model_id": "y"})
    assert _hidden_params(plain) == {"model_id": "y"}
    assert _hidden_params(object()) is None


class CountRoutings:
    """Counts the routing decisions asked for (``modelmuxer_request_start`` runs before each)."""

    def __init__(self) -> None:
        self.count = 0

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        self.count += 1


async def test_a_request_modelmuxer_refuses_is_not_retried_on_its_group(
    make_router: MakeRouter,
) -> None:
    """A refusal does not change on a retry: LiteLLM must not retry it (with its backoff, ~18 s
    for ``num_retries=3``); it reads the error's ``status_code`` (400) to know."""
    routings = CountRoutings()
    router, _ = make_router(CHAT, router_kwargs={"num_retries": 3}, plugins=[routings])
    with pytest.raises(NoEligibleModel) as caught:
        await router.acompletion(
            model="chat", messages=EASY, metadata={ROUTING_KEY: {"allow": ["none-such"]}}
        )
    assert routings.count == 1
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


async def test_a_request_refused_in_its_group_still_falls_back(make_router: MakeRouter) -> None:
    router, _ = make_router(
        [*CHAT, deployment("backup", "backup", STRONG)],
        router_kwargs={"num_retries": 3, "fallbacks": [{"chat": ["backup"]}]},
    )
    answer = await router.acompletion(
        model="chat", messages=EASY, metadata={ROUTING_KEY: {"allow": ["backup"]}}
    )
    assert _served(answer) == "backup"


def _auto_ids(callback: ModelMuxerCallback) -> set[str]:
    return {d["model_info"]["id"] for d in callback.deployments() if d["model_name"] == AUTO_GROUP}


async def test_refresh_brings_the_virtual_group_up_to_date(make_router: MakeRouter) -> None:
    """Deployments added, removed or replaced at runtime: ``refresh()`` makes the virtual group
    copy exactly the router's deployments (``set_model_list`` had left it empty: every
    ``modelmuxer/auto`` request failed with "no healthy deployments")."""
    from litellm.types.router import Deployment

    router, callback = make_router([deployment("mini", "chat", CHEAP)])
    router.add_deployment(Deployment(**deployment("4o", "chat", STRONG)))
    callback.refresh()
    assert _auto_ids(callback) == {f"mini@{AUTO_GROUP}", f"4o@{AUTO_GROUP}"}
    assert _choice(await router.acompletion(model=AUTO_GROUP, messages=HARD))["deployment"] == "4o"
    router.delete_deployment("4o")
    callback.refresh()
    assert _auto_ids(callback) == {f"mini@{AUTO_GROUP}"}
    router.set_model_list([deployment("x", "chat", CHEAP), deployment("y", "chat", STRONG)])
    callback.refresh()
    assert _auto_ids(callback) == {f"x@{AUTO_GROUP}", f"y@{AUTO_GROUP}"}
    assert _choice(await router.acompletion(model=AUTO_GROUP, messages=HARD))["deployment"] == "y"


async def test_deployment_order_is_kept(make_router: MakeRouter) -> None:
    """LiteLLM's ``order``: the lowest order first, the next one when it fails. LiteLLM filters
    by order after ModelMuxer's choice (too late): ModelMuxer chooses among the order LiteLLM
    targets (it chose the cheap order-2 deployment for an easy request)."""

    def ordered(prefix: str = "", answer: str | None = None) -> list[dict[str, Any]]:
        first = deployment(f"{prefix}4o", "chat", STRONG, answer=answer)
        first["litellm_params"]["order"] = 1
        second = deployment(f"{prefix}mini", "chat", CHEAP)
        second["model_info"]["order"] = 2  # where models added through the proxy's API keep it
        return [first, second]

    router, _ = make_router(ordered())
    for _ in range(2):
        assert _served(await router.acompletion(model="chat", messages=EASY)) == "4o"
    failing, _ = make_router(ordered("f-", answer="litellm.InternalServerError"))
    answer = await failing.acompletion(model="chat", messages=EASY, num_retries=0)
    assert _served(answer) == "f-mini"  # LiteLLM's order fallback, routed among order 2
