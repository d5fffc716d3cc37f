"""Budget refusals inside the pipeline: a refused cascade escalation, a refused stream."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from _support import MakeMuxer, Recorder

from modelmuxer import BudgetExceeded, Identity, Muxer, hookimpl
from modelmuxer.analysis import analyze
from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.budgets import Budget, BudgetGuard, MemoryBudgetStore
from modelmuxer.context import RequestContext
from modelmuxer.strategies.estimates import worst_case_cost

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CHEAP, STRONG = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
PROMPT = "Write a short poem about the sea."
ACME = Identity(org="acme")


class RejectAll:
    """A judge that rejects every answer, so the cascade always wants to escalate."""

    @hookimpl
    def modelmuxer_judge(
        self, ctx: RequestContext, call: ModelCall, response: ModelResponse
    ) -> float:
        return 0.0


def _cascade(make_muxer: MakeMuxer, recorder: Recorder, limit: Decimal) -> Muxer:
    budget = Budget(scope="org", subject="*", period="day", limit_usd=limit)
    # low_water 0: keep the candidates as they are, so the test sees the refusal itself
    guard = BudgetGuard(MemoryBudgetStore(), [budget], low_water=0.0)
    return make_muxer([CHEAP, STRONG], strategy="cascade", plugins=[recorder, guard, RejectAll()])


def _worst(make_muxer: MakeMuxer, model: str) -> Decimal:
    muxer = make_muxer([CHEAP, STRONG])
    request = muxer.request(PROMPT, max_tokens=200, identity=ACME)
    cost = worst_case_cost(analyze(request), request, muxer.catalog.get(model))
    return Decimal(str(cost))


async def test_refused_escalation_serves_the_cheaper_answer(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    # Routing sees room for either model, but once the cheap answer is paid for, the strong
    # model's worst case no longer fits: the escalation is refused by the reservation itself.
    limit = _worst(make_muxer, STRONG) + Decimal("0.000001")
    muxer = _cascade(make_muxer, recorder, limit)
    completion = await muxer.acomplete(PROMPT, max_tokens=200, identity=ACME)
    assert completion.model == CHEAP
    assert [a.outcome for a in completion.attempts] == ["escalated", "failed"]
    assert "acme" in (completion.attempts[1].error or "")
    assert completion.attempts[0].cost_usd > 0.000001, "the cheap answer must outgrow the slack"
    assert completion.cost_usd == pytest.approx(completion.attempts[0].cost_usd)
    # the refused call is a row too: no cost, the refusal as its error
    assert [r.outcome for r in recorder.records] == ["escalated", "error"]
    assert recorder.records[1].cost_usd == 0
    assert (recorder.records[1].error or "").startswith("BudgetExceeded")


async def test_refused_first_call_raises(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = _cascade(make_muxer, recorder, Decimal("0.000001"))
    with pytest.raises(BudgetExceeded):
        await muxer.acomplete(PROMPT, max_tokens=200, identity=ACME)


async def test_refused_stream_records_no_cost(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = _cascade(make_muxer, recorder, Decimal("0.000001"))
    with pytest.raises(BudgetExceeded):
        async for _ in muxer.astream(PROMPT, max_tokens=200, identity=ACME, strategy="hybrid"):
            pass
    assert [r.outcome for r in recorder.records] == ["error"]
    assert recorder.records[0].streamed
    assert recorder.records[0].usage.prompt_tokens == 0  # nothing was sent: nothing was used
    assert recorder.records[0].cost_usd == 0


async def test_streams_failing_before_their_first_chunk_are_not_charged(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    """A stream that fails before any chunk (then falls back) settles at what its record says:
    nothing."""
    budget = Budget(scope="org", subject="acme", period="day", limit_usd=Decimal("1"))
    guard = BudgetGuard(MemoryBudgetStore(), [budget], low_water=0.0)
    broken = {"id": CHEAP, "deployment": {"extra": {"offline": {"fail": "server_error"}}}}
    muxer = make_muxer([broken, STRONG], strategy="cost_optimized", plugins=[recorder, guard])
    for _ in range(3):
        async for _chunk in muxer.astream(
            PROMPT, max_tokens=50, identity=ACME, routing={"quality_target": 0.1}
        ):
            pass
    assert [(r.model, r.outcome) for r in recorder.records] == [
        (CHEAP, "error"),
        (STRONG, "ok"),
    ] * 3
    assert all(r.cost_usd == 0 for r in recorder.records if r.outcome == "error")
    state = await guard.state(budget.name)
    assert state.reserved_usd == 0
    assert state.spent_usd == pytest.approx(
        sum(Decimal(str(r.cost_usd)) for r in recorder.records), abs=Decimal("1e-9")
    )
