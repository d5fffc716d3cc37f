"""Budgets apply to the calls LiteLLM makes: reserved when ModelMuxer picks the deployment,
settled at the recorded cost, released on failure, refused with BudgetExceeded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _litellm_support import CHEAP, EASY, STRONG, MakeRouter, RecordSink, deployment
from _litellm_support import wait_for_records as wait

from modelmuxer import BudgetExceeded, hookimpl
from modelmuxer.budgets import Budget, BudgetGuard, MemoryBudgetStore
from modelmuxer.budgets.model import to_usd
from modelmuxer.context import RequestContext
from modelmuxer.types import Identity
from modelmuxer_litellm import ROUTING_KEY

pytestmark = pytest.mark.litellm

ACME = {"org": "acme"}


def _guard(limit: str) -> BudgetGuard:
    budget = Budget(scope="org", subject="*", period="day", limit_usd=Decimal(limit))
    return BudgetGuard(MemoryBudgetStore(), [budget], low_water=0.0)


async def test_calls_are_settled_at_their_recorded_cost_until_the_budget_refuses(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    guard = _guard("0.0001")
    router, callback = make_router([deployment("mini", "chat", CHEAP)], plugins=[guard])
    answered, refused = 0, None
    for _ in range(400):
        try:
            await router.acompletion(
                model="chat", messages=EASY, max_tokens=20, metadata=ACME, num_retries=0
            )
            answered += 1
        except BudgetExceeded as exc:
            refused = exc
            break
    assert answered > 0
    assert refused is not None, "the budget never bound"
    assert refused.budget == "org:acme/day"
    records = await wait(sink, answered)
    (state,) = await guard.states(identity=Identity(org="acme"))
    assert state.spent_usd == sum((to_usd(r.cost_usd) for r in records), Decimal(0))
    assert state.spent_usd <= Decimal("0.0001")
    assert state.reserved_usd == 0
    assert len(callback._holds) == 0


async def test_a_failed_call_releases_its_reservation(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    guard = _guard("1")
    failing = deployment("bad", "chat", CHEAP, answer="x")
    failing["litellm_params"]["mock_response"] = Exception("provider down")
    router, callback = make_router([failing], plugins=[guard])
    with pytest.raises(Exception, match="provider down"):
        await router.acompletion(model="chat", messages=EASY, metadata=ACME, num_retries=0)
    await wait(sink, 1)
    (state,) = await guard.states(identity=Identity(org="acme"))
    assert (state.spent_usd, state.reserved_usd) == (0, 0)
    assert len(callback._holds) == 0


async def test_a_refusal_reaches_the_caller_at_once_and_reserves_nothing(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    """A budget refusal is final for the group: LiteLLM does not retry it (``status_code``
    400, which the proxy also returns to its client), and nothing stays reserved."""
    guard = _guard("0.0000001")
    asked = []

    class Count:
        @hookimpl
        def modelmuxer_request_start(self, ctx: RequestContext) -> None:
            asked.append(ctx.request.request_id)

    router, callback = make_router(
        [deployment("mini", "chat", CHEAP)],
        router_kwargs={"num_retries": 3},
        plugins=[guard, Count()],
    )
    with pytest.raises(BudgetExceeded) as refused:
        await router.acompletion(model="chat", messages=EASY, max_tokens=200, metadata=ACME)
    assert len(asked) == 1
    assert refused.value.status_code == 400  # type: ignore[attr-defined]
    (state,) = await guard.states(identity=Identity(org="acme"))
    assert (state.spent_usd, state.reserved_usd) == (0, 0)
    assert len(callback._holds) == 0
    assert sink.records == []


async def test_a_request_that_fails_before_any_call_releases_its_reservations(
    make_router: MakeRouter,
) -> None:
    """LiteLLM may drop ModelMuxer's choice after the deployment filter (here its tag routing,
    which runs later) and fail without making a call, so without reporting one: the Router
    call's failure releases what its routing reserved (it was held for the lease, 10 min)."""
    guard = _guard("1")
    eu = deployment("mini", "chat", CHEAP)
    eu["litellm_params"]["tags"] = ["eu"]
    us = deployment("4o", "chat", STRONG)
    us["litellm_params"]["tags"] = ["us"]
    router, callback = make_router(
        [eu, us], router_kwargs={"enable_tag_filtering": True}, plugins=[guard]
    )
    # (a fresh dict: LiteLLM writes into the metadata it is given, ACME included)
    only_us = {"org": "acme", "tags": ["eu"], ROUTING_KEY: {"allow": ["4o"]}}  # 4o: no "eu" tag
    with pytest.raises(Exception, match="tags"):
        await router.acompletion(model="chat", messages=EASY, max_tokens=100, metadata=only_us)
    (state,) = await guard.states(identity=Identity(org="acme"))
    assert (state.spent_usd, state.reserved_usd) == (0, 0)
    assert len(callback._holds) == 0
