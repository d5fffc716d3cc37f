"""The budget guard in the pipeline: reserve / settle / release around calls, refusal, routing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Generator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import BudgetExceeded, Identity, Muxer, ProviderError, hookimpl
from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.budgets import (
    Budget,
    BudgetGuard,
    BudgetSettings,
    Counter,
    MemoryBudgetStore,
    window_of,
)
from modelmuxer.budgets.model import to_usd
from modelmuxer.config import MuxerSettings, load_settings
from modelmuxer.context import RequestContext
from modelmuxer.errors import ConfigError, ProviderTimeout

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

D = Decimal
ACME = Identity(org="acme", user="ann")
PROMPT = "Summarise the history of the Roman republic in a few paragraphs."


class ManualClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CallStarted:
    """Sets ``event`` when a model call starts (inside any wrapper registered after it)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        inner = yield

        async def mark() -> ModelResponse:
            self.event.set()
            return await inner

        return mark()


def org_day(limit: str) -> Budget:
    return Budget(scope="org", subject="*", period="day", limit_usd=D(limit))


def guarded(
    make_muxer: MakeMuxer, recorder: Recorder, *budgets: Budget, low_water: float = 0.5
) -> tuple[Muxer, BudgetGuard]:
    guard = BudgetGuard(MemoryBudgetStore(), budgets, low_water=low_water)
    return make_muxer(OFFLINE_MODELS, plugins=[recorder, guard]), guard


def spent_on_records(recorder: Recorder) -> Decimal:
    return sum((to_usd(r.cost_usd) for r in recorder.records), D(0))


# -- the model ------------------------------------------------------------------------------


def test_budget_names_and_validation() -> None:
    assert org_day("1").name == "org:*/day"
    assert Budget(scope="global", period="total", limit_usd=D(1)).name == "global/total"
    with pytest.raises(ValueError, match="global budget has no subject"):
        Budget(scope="global", subject="x", limit_usd=D(1))
    with pytest.raises(ValueError, match="needs a subject"):
        Budget(scope="user", limit_usd=D(1))
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Budget(scope="org", subject="a", limit_usd=D(-1))


def test_a_limit_too_large_to_count_in_nano_dollars_is_a_config_error() -> None:
    # it used to load, then fail every request with a bare decimal.InvalidOperation
    with pytest.raises(ConfigError, match=r"budgets\.budgets\.0\.limit_usd"):
        load_settings(budgets={"budgets": [{"scope": "global", "limit_usd": "1e20"}]})
    assert Budget(scope="global", limit_usd=D("1e15")).limit == D("1e15")


def test_windows_are_utc_calendar_periods() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    day, month = window_of("day", now), window_of("month", now)
    assert (day.label, day.end) == ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC))
    assert (month.label, month.end) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC))
    assert window_of("total", now).end is None
    counter = Counter.of(org_day("2"), "acme", day)
    assert counter.key == "org:acme/day/2026-12-31"
    assert counter.limit == D("2.000000000")


def test_a_named_subject_wins_over_each_and_missing_fields_do_not_apply() -> None:
    guard = BudgetGuard(MemoryBudgetStore())
    guard.set_budget(org_day("1"))
    guard.set_budget(scope="org", subject="acme", period="day", limit_usd="5")
    guard.set_budget(scope="global", period="month", limit_usd="100")
    lines = {line.budget.name: line for line in guard.lines(ACME)}
    assert set(lines) == {"org:acme/day", "global/month"}
    other = {line.budget.name for line in guard.lines(Identity(org="beta"))}
    assert other == {"org:*/day", "global/month"}
    assert {line.budget.name for line in guard.lines(Identity())} == {"global/month"}
    guard.remove_budget("global/month")
    with pytest.raises(KeyError, match="no budget 'global/month'"):
        guard.remove_budget("global/month")


# -- reserve / settle around calls ----------------------------------------------------------


async def test_calls_are_charged_exactly_what_they_cost(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("10"))
    for _ in range(3):
        await muxer.acomplete(PROMPT, identity=ACME, max_tokens=100)
    (state,) = await guard.states(ACME)
    assert state.reserved_usd == 0
    assert state.spent_usd == spent_on_records(recorder) > 0


async def test_refusal_is_a_budget_exceeded_that_says_everything(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("0.0001"))
    with pytest.raises(BudgetExceeded) as caught:
        await muxer.acomplete(PROMPT, identity=ACME, max_tokens=1000)
    error = caught.value
    assert (error.budget, error.scope, error.subject, error.period) == (
        "org:acme/day",
        "org",
        "acme",
        "day",
    )
    assert error.limit_usd == D("0.0001")
    assert (error.spent_usd, error.reserved_usd) == (D(0), D(0))
    assert error.needed_usd > error.limit_usd
    assert error.resets_at == window_of("day", datetime.now(UTC)).end
    text = str(error)
    for part in ("org:acme/day", "limit $0.0001", "spent $0", "resets at", "max_tokens"):
        assert part in text
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D(0))


async def test_a_failed_call_releases_its_reservation(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("1"))
    with pytest.raises(ProviderError):
        await muxer.acomplete(
            PROMPT, identity=ACME, metadata={"offline": {"fail": "server_error"}}, max_tokens=50
        )
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D(0))


async def test_a_timed_out_call_releases_its_reservation(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("1"))
    with pytest.raises(ProviderTimeout):
        await muxer.acomplete(
            PROMPT, identity=ACME, metadata={"offline": {"latency_s": 30}}, timeout_s=0.05
        )
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D(0))


async def test_a_cancelled_call_releases_its_reservation(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    started = CallStarted()
    guard = BudgetGuard(MemoryBudgetStore(), [org_day("1")])
    # registered before the guard, so the guard wraps it: it starts once the guard has reserved
    muxer = make_muxer(OFFLINE_MODELS, plugins=[recorder, started, guard])
    task = asyncio.create_task(
        muxer.acomplete(PROMPT, identity=ACME, metadata={"offline": {"latency_s": 30}})
    )
    await started.event.wait()
    assert guard.last_seen(ACME)[0].reserved_usd > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D(0))


async def test_a_stream_settles_at_its_end_and_on_an_early_stop(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("1"))
    chunks = [c async for c in muxer.astream(PROMPT, identity=ACME, max_tokens=200)]
    assert chunks[-1].completion is not None
    (state,) = await guard.states(ACME)
    assert state.spent_usd == to_usd(chunks[-1].completion.cost_usd)
    stream = muxer.astream(PROMPT, identity=ACME, max_tokens=200)
    async for _ in stream:
        break  # the consumer stops after the first chunk
    await stream.aclose()  # type: ignore[attr-defined]
    (state,) = await guard.states(ACME)
    assert state.reserved_usd == 0
    assert state.spent_usd == spent_on_records(recorder)
    assert [r.outcome for r in recorder.records] == ["ok", "cancelled"]


async def test_each_cascade_step_reserves_and_settles_its_own(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("1"))
    completion = await muxer.acomplete(
        PROMPT, identity=ACME, strategy="cascade", metadata={"offline": {"refuse": True}}
    )
    assert len(completion.attempts) > 1  # refusals escalate
    (state,) = await guard.states(ACME)
    assert state.reserved_usd == 0
    assert (
        state.spent_usd
        == spent_on_records(recorder)
        == sum((to_usd(a.cost_usd) for a in completion.attempts), D(0))
    )


async def test_requests_no_budget_limits_pass_untouched(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, _ = guarded(make_muxer, recorder, Budget(scope="user", subject="bob", limit_usd=D(0)))
    completion = await muxer.acomplete(PROMPT, identity=ACME)
    assert completion.text


# -- budget-aware routing -------------------------------------------------------------------


def test_models_a_budget_cannot_cover_are_excluded_with_the_reason(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, _ = guarded(make_muxer, recorder, org_day("0.001"))
    decision = muxer.route(PROMPT, identity=ACME, strategy="quality_first", max_tokens=200)
    assert decision.model == "offline/openai/gpt-4o-mini"
    excluded = decision.estimate("offline/openai/gpt-4o")
    assert excluded is not None
    assert excluded.excluded is not None
    assert excluded.excluded.startswith("budget org:acme/day: $0.001 left, worst case $0.00")


async def test_routing_leans_towards_cost_as_a_budget_runs_low(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("1"), low_water=0.5)
    calm = muxer.route(PROMPT, identity=ACME)
    assert "leaning" not in calm.reason
    res = await guard.reserve(ACME, "offline/openai/gpt-4o", D("0.8"))
    await guard.settle(res, D("0.8"))  # 20% left: 60% of the way from low water to empty
    decision = muxer.route(PROMPT, identity=ACME)
    assert "budget org:acme/day: 20% left, leaning towards cost (cost_weight 0.74" in (
        decision.reason
    )
    assert "at cost_weight 0.74" in decision.reason  # the strategy used the raised weight


async def test_when_nothing_fits_the_cheapest_is_tried_and_refused(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, _ = guarded(make_muxer, recorder, org_day("0.00001"))
    decision = muxer.route(PROMPT, identity=ACME, max_tokens=500)
    assert decision.model == "offline/openai/gpt-4o-mini"
    assert "no model's worst case fits" in decision.reason
    with pytest.raises(BudgetExceeded):
        await muxer.acomplete(PROMPT, identity=ACME, max_tokens=500)


# -- the public API -------------------------------------------------------------------------


async def test_reserve_settle_release_outside_the_pipeline() -> None:
    guard = BudgetGuard(MemoryBudgetStore(), [org_day("1")])
    held = await guard.reserve(ACME, "some/model", 0.4)
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd, state.remaining_usd) == (D(0), D("0.4"), D("0.6"))
    await guard.release(held)
    held = await guard.reserve(ACME, "some/model", 0.4)
    await guard.settle(held, 0.25)
    assert (await guard.state("org:*/day", "acme")).spent_usd == D("0.25")
    with pytest.raises(ValueError, match="name the subject"):
        await guard.state("org:*/day")
    empty = await guard.reserve(Identity(), "some/model", 5)  # no budget applies
    assert empty.counters == ()
    await guard.settle(empty, 5)
    await guard.aclose()


async def test_a_new_period_starts_from_zero() -> None:
    clock = ManualClock(datetime(2026, 5, 31, 23, 0, tzinfo=UTC).timestamp())
    guard = BudgetGuard(MemoryBudgetStore(clock=clock), [org_day("1")], clock=clock)
    await guard.settle(await guard.reserve(ACME, None, 0.9), 0.9)
    with pytest.raises(BudgetExceeded) as caught:
        await guard.reserve(ACME, None, 0.2)
    assert caught.value.resets_at == datetime(2026, 6, 1, tzinfo=UTC)
    clock.now += 3600
    fresh = await guard.reserve(ACME, None, 0.2)
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D("0.2"))
    assert state.resets_at == datetime(2026, 6, 2, tzinfo=UTC)
    await guard.release(fresh)


# -- configuration --------------------------------------------------------------------------


def test_budgets_from_settings_build_a_registered_guard(make_muxer: MakeMuxer) -> None:
    settings = load_settings(
        models=list(OFFLINE_MODELS),
        budgets={"budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": 2}]},
    )
    muxer = make_muxer(settings=settings)
    assert isinstance(muxer.budgets, BudgetGuard)
    assert muxer.plugins.get_plugin("modelmuxer.budgets") is muxer.budgets
    assert [b.name for b in muxer.budgets.budgets] == ["org:*/day"]
    assert make_muxer(settings=MuxerSettings(models=list(OFFLINE_MODELS))).budgets is None


def test_budgets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELMUXER_BUDGETS",
        '{"backend": "memory", "budgets": [{"scope": "global", "limit_usd": "3.5"}]}',
    )
    settings = load_settings()
    assert settings.budgets.active
    assert settings.budgets.budgets[0].limit == D("3.5")


def test_bad_budget_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="budgets"):
        load_settings(budgets={"budgets": [{"scope": "team", "limit_usd": 1}]})
    with pytest.raises(ConfigError, match=r"budgets\.backend 'mongodb://x'"):
        BudgetSettings(backend="mongodb://x").build_store()


def test_two_budgets_with_one_name_are_a_config_error() -> None:
    # the second would silently replace the first (a copy-paste that forgot to change the
    # period leaves a budget unenforced)
    twice = [
        {"scope": "org", "subject": "acme", "period": "day", "limit_usd": "50"},
        {"scope": "org", "subject": "acme", "period": "day", "limit_usd": "5"},
    ]
    with pytest.raises(ConfigError, match=r"budgets\.budgets: .*'org:acme/day' is configured"):
        load_settings(budgets={"budgets": twice})


def test_a_muxer_with_an_unknown_budget_backend_is_a_config_error_naming_it(
    make_muxer: MakeMuxer,
) -> None:
    budgets = {"backend": "mysql://db/x", "budgets": [{"scope": "global", "limit_usd": 1}]}
    with pytest.raises(ConfigError, match=r"budgets\.backend 'mysql://db/x': use 'memory'"):
        make_muxer(settings=load_settings(models=list(OFFLINE_MODELS), budgets=budgets))


def test_a_muxer_without_budgets_skips_the_hook_machinery(muxer: Muxer) -> None:
    assert muxer.budgets is None
    assert len(muxer.plugins.hook.modelmuxer_call_model.get_hookimpls()) == 1


async def test_a_refused_stream_raises_budget_exceeded_before_any_chunk(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer, guard = guarded(make_muxer, recorder, org_day("0.00001"))
    stream = muxer.astream(PROMPT, identity=ACME, max_tokens=500)
    with pytest.raises(BudgetExceeded, match="budget org:acme/day cannot cover this call"):
        await anext(stream)  # the first chunk: refused before anything was streamed
    (state,) = await guard.states(ACME)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D(0))
