"""Executing decisions: cascades escalate and pay for every attempt; failures are typed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _support import MakeMuxer, Recorder

from modelmuxer import Decision, Muxer, ProviderError, ProviderTimeout, hookimpl
from modelmuxer.analysis import analyze
from modelmuxer.context import RequestContext
from modelmuxer.errors import RateLimitedByProvider
from modelmuxer.strategies.base import RoutingTask
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.testing import make_card
from modelmuxer.types import Deployment, ModelCard

PROMPT = "Explain how photosynthesis turns light, water and carbon dioxide into sugar."
CHEAP, MID, STRONG = "offline/test/cheap", "offline/test/mid", "offline/test/strong"


def _card(model_id: str, price: float, quality: float, **offline: Any) -> ModelCard:
    card = make_card(
        model_id, input_price_per_mtok=price, output_price_per_mtok=price * 4, quality=quality
    )
    if offline:
        card = card.model_copy(update={"deployment": Deployment(extra={"offline": offline})})
    return card


def _cascade(make_muxer: MakeMuxer, *cards: ModelCard, **kwargs: Any) -> Muxer:
    return make_muxer(list(cards), strategy="cascade", **kwargs)


@pytest.mark.parametrize("behaviour", [{"refuse": True}, {"empty": True}])
async def test_escalates_when_the_cheap_model_fails_the_judge(
    make_muxer: MakeMuxer, recorder: Recorder, behaviour: dict[str, bool]
) -> None:
    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.6, **behaviour),
        _card(STRONG, 10.0, 0.95),
        plugins=[recorder],
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.decision.models == [CHEAP, STRONG]
    assert completion.decision.threshold == 0.5
    assert completion.model == STRONG
    escalated, accepted = completion.attempts
    assert (escalated.model, escalated.outcome) == (CHEAP, "escalated")
    assert escalated.judge_score is not None
    assert escalated.judge_score < 0.5
    assert (accepted.model, accepted.outcome) == (STRONG, "accepted")
    assert accepted.judge_score is None  # the last model is not judged
    # Every attempt is paid for; usage is the answer's own.
    assert escalated.cost_usd > 0
    assert completion.cost_usd == pytest.approx(escalated.cost_usd + accepted.cost_usd)
    assert completion.usage == accepted.usage
    assert [(r.attempt, r.model, r.outcome) for r in recorder.records] == [
        (0, CHEAP, "escalated"),
        (1, STRONG, "ok"),
    ]
    assert {r.request_id for r in recorder.records} == {completion.request_id}
    assert [r.cost_usd for r in recorder.records] == pytest.approx(
        [escalated.cost_usd, accepted.cost_usd]
    )


async def test_a_good_cheap_answer_stops_the_cascade(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer = _cascade(
        make_muxer, _card(CHEAP, 0.1, 0.6), _card(STRONG, 10.0, 0.95), plugins=[recorder]
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == CHEAP
    (attempt,) = completion.attempts
    assert attempt.outcome == "accepted"
    assert attempt.judge_score == 1.0
    assert completion.cost_usd == pytest.approx(attempt.cost_usd)
    assert [r.outcome for r in recorder.records] == ["ok"]


async def test_three_step_cascade_counts_every_attempt(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.5, refuse=True),
        _card(MID, 1.0, 0.75, empty=True),
        _card(STRONG, 10.0, 0.95),
        plugins=[recorder],
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.decision.models == [CHEAP, MID, STRONG]
    assert [a.outcome for a in completion.attempts] == ["escalated", "escalated", "accepted"]
    assert completion.cost_usd == pytest.approx(sum(a.cost_usd for a in completion.attempts))
    assert [r.attempt for r in recorder.records] == [0, 1, 2]


async def test_the_threshold_comes_from_the_settings(make_muxer: MakeMuxer) -> None:
    from modelmuxer.config import MuxerSettings

    settings = MuxerSettings(cascade_threshold=0.05)  # a refusal (0.1) is good enough
    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.6, refuse=True),
        _card(STRONG, 10.0, 0.95),
        settings=settings,
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.decision.threshold == 0.05
    assert completion.model == CHEAP
    assert completion.text.startswith("I'm sorry")


class _ForceChain:
    """Routes every request through the given chain, ignoring the strategy."""

    def __init__(self, models: list[str], threshold: float = 0.5) -> None:
        self.models = models
        self.threshold = threshold

    @hookimpl
    def modelmuxer_select(self, ctx: RequestContext, task: RoutingTask) -> Decision:
        return task.decide("forced", self.models, "forced chain", threshold=self.threshold)


async def test_the_cost_ceiling_stops_escalation(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    cheap = _card(CHEAP, 0.1, 0.6, refuse=True)
    strong = _card(STRONG, 10.0, 0.95)
    muxer = make_muxer([cheap, strong], plugins=[_ForceChain([CHEAP, STRONG]), recorder])
    request = muxer.request(PROMPT, max_tokens=200)
    strong_worst = worst_case_cost(analyze(request), request, strong)
    # Each model fits the ceiling alone, but not after paying for the cheap attempt.
    ceiling = strong_worst * (1 + 1e-9)
    completion = await muxer.acomplete(request, routing={"max_cost_usd": ceiling})
    assert completion.model == CHEAP
    (attempt,) = completion.attempts
    assert attempt.outcome == "accepted"
    assert attempt.judge_score is not None
    assert attempt.judge_score < 0.5
    assert [r.outcome for r in recorder.records] == ["ok"]
    assert completion.cost_usd <= ceiling

    # With room for both, the same request escalates.
    roomy = await muxer.acomplete(request, routing={"max_cost_usd": strong_worst * 3})
    assert roomy.model == STRONG


async def test_the_reason_says_when_the_ceiling_stopped_escalation(make_muxer: MakeMuxer) -> None:
    cheap = _card(CHEAP, 0.1, 0.6, refuse=True)
    strong = _card(STRONG, 10.0, 0.95)
    muxer = make_muxer([cheap, strong], plugins=[_ForceChain([CHEAP, STRONG])])
    request = muxer.request(PROMPT, max_tokens=200)
    ceiling = worst_case_cost(analyze(request), request, strong) * (1 + 1e-9)
    completion = await muxer.acomplete(request, routing={"max_cost_usd": ceiling})
    assert completion.model == CHEAP
    assert completion.decision.reason.startswith("forced chain; ")
    assert f"{CHEAP} scored " in completion.decision.reason
    assert f"escalating to {STRONG} would pass the cost ceiling" in completion.decision.reason


async def test_a_failing_cheap_model_escalates(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.6, fail="server_error"),
        _card(STRONG, 10.0, 0.95),
        plugins=[recorder],
    )
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == STRONG
    failed, accepted = completion.attempts
    assert failed.model == CHEAP
    assert failed.outcome == "failed"
    assert failed.error is not None
    assert "simulated server error" in failed.error
    assert failed.cost_usd == 0.0
    assert completion.cost_usd == pytest.approx(accepted.cost_usd)
    assert [(r.attempt, r.outcome) for r in recorder.records] == [(0, "error"), (1, "ok")]
    assert recorder.records[0].error is not None


async def test_a_cascade_whose_models_all_fail_raises_the_last_error(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.6, fail="server_error"),
        _card(STRONG, 10.0, 0.95, fail="rate_limit"),
        plugins=[recorder],
    )
    with pytest.raises(RateLimitedByProvider) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.model == STRONG
    assert [r.outcome for r in recorder.records] == ["error", "error"]
    assert isinstance(recorder.ended[-1][1], RateLimitedByProvider)


@pytest.mark.parametrize(
    ("fail", "status"), [("server_error", 503), ("bad_request", 400), ("auth", 401)]
)
async def test_a_failing_single_model_raises_provider_error(
    make_muxer: MakeMuxer, recorder: Recorder, fail: str, status: int
) -> None:
    muxer = make_muxer([_card(CHEAP, 0.1, 0.6, fail=fail)], plugins=[recorder])
    with pytest.raises(ProviderError) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.model == CHEAP
    assert info.value.status_code == status
    assert CHEAP in str(info.value)
    assert [r.outcome for r in recorder.records] == ["error"]


async def test_the_pipeline_times_out_a_slow_model(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer = make_muxer([_card(CHEAP, 0.1, 0.6, latency_s=1.0)], plugins=[recorder])
    t0 = time.perf_counter()
    with pytest.raises(ProviderTimeout) as info:
        await muxer.acomplete(PROMPT, timeout_s=0.05)
    assert time.perf_counter() - t0 < 0.5
    assert info.value.timeout_s == 0.05
    assert info.value.retryable
    (record,) = recorder.records
    assert record.outcome == "error"
    assert record.error is not None
    assert "ProviderTimeout" in record.error


def test_the_sync_call_times_out_too(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer([_card(CHEAP, 0.1, 0.6, latency_s=1.0)])
    with pytest.raises(ProviderTimeout):
        muxer.complete(PROMPT, timeout_s=0.05)


async def test_a_slow_cheap_model_escalates_on_timeout(make_muxer: MakeMuxer) -> None:
    muxer = _cascade(make_muxer, _card(CHEAP, 0.1, 0.6, latency_s=1.0), _card(STRONG, 10.0, 0.95))
    completion = await muxer.acomplete(PROMPT, timeout_s=0.05)
    assert completion.model == STRONG
    assert completion.attempts[0].outcome == "failed"
    assert "0.05" in (completion.attempts[0].error or "")


async def test_a_judge_error_is_not_hidden_as_a_provider_error(make_muxer: MakeMuxer) -> None:
    class Boom:
        @hookimpl
        def modelmuxer_judge(self, ctx: RequestContext, call: Any, response: Any) -> float:
            raise RuntimeError("judge broke")

    muxer = _cascade(
        make_muxer, _card(CHEAP, 0.1, 0.6), _card(STRONG, 10.0, 0.95), plugins=[Boom()]
    )
    with pytest.raises(RuntimeError, match="judge broke"):
        await muxer.acomplete(PROMPT)


async def test_a_judge_error_still_records_the_paid_call(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    class Boom:
        @hookimpl
        def modelmuxer_judge(self, ctx: RequestContext, call: Any, response: Any) -> float:
            raise RuntimeError("judge broke")

    muxer = _cascade(
        make_muxer,
        _card(CHEAP, 0.1, 0.6),
        _card(STRONG, 10.0, 0.95),
        plugins=[Boom(), recorder],
    )
    with pytest.raises(RuntimeError, match="judge broke"):
        await muxer.acomplete(PROMPT)
    # The cheap model answered (and its answer was paid for) before the judge broke.
    [record] = recorder.records
    assert (record.model, record.outcome) == (CHEAP, "error")
    assert record.cost_usd > 0
    assert record.usage.total_tokens > 0
    assert "judge broke" in (record.error or "")


def test_rejected_answer_is_served_when_the_last_model_fails() -> None:
    from modelmuxer import ModelSpec, Muxer

    muxer = Muxer(
        [
            ModelSpec(
                id="offline/openai/gpt-4o-mini",
                deployment={"extra": {"offline": {"refuse": True}}},
            ),
            ModelSpec(
                id="offline/openai/gpt-4o",
                deployment={"extra": {"offline": {"fail": "server_error"}}},
            ),
        ],
        strategy="cascade",
        load_entrypoints=False,
    )
    try:
        completion = muxer.complete("Give me a JSON list of three fruits.")
    finally:
        muxer.close()
    assert completion.model == "offline/openai/gpt-4o-mini"
    assert [a.outcome for a in completion.attempts] == ["escalated", "failed"]
    assert completion.decision.reason.endswith(
        "; offline/openai/gpt-4o failed (server_error): served the best answer the judge "
        f"rejected, offline/openai/gpt-4o-mini's (score {completion.attempts[0].judge_score:.2f} "
        "< threshold 0.50)"
    )
    assert completion.text.startswith("I'm sorry")
    assert completion.cost_usd == completion.attempts[0].cost_usd > 0
