"""Behaviour of the four built-in strategies on hand-built candidate sets."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pluggy
import pytest

from modelmuxer import hookspecs
from modelmuxer.strategies import (
    CascadeStrategy,
    CostOptimizedStrategy,
    HybridStrategy,
    QualityFirstStrategy,
    RoutingTask,
    Strategy,
    StrategySettings,
    cascade,
    cost_optimized,
    hybrid,
    quality_first,
)
from modelmuxer.strategies.cascade import expected_chain_cost
from modelmuxer.strategies.hybrid import hybrid_scores
from modelmuxer.testing import make_card, make_features, make_request, make_task
from modelmuxer.types import ModelCard, RoutingOptions

# With the default features (complexity 0.2) the prior estimator gives small 0.784,
# medium 0.8704, large 0.9424.
SMALL = make_card("acme/small", input_price_per_mtok=0.15, output_price_per_mtok=0.6, quality=0.7)
MEDIUM = make_card("acme/medium", input_price_per_mtok=1.0, output_price_per_mtok=4.0, quality=0.82)
LARGE = make_card(
    "acme/large", input_price_per_mtok=5.0, output_price_per_mtok=15.0, quality=0.92, ttft_s=0.8
)
CARDS = [LARGE, SMALL, MEDIUM]  # deliberately not in price order

EASY_CHAT = make_features(task_type="chat", complexity=0.05, prompt_tokens=15)
HARD_CODE = make_features(
    task_type="code", complexity=0.9, code=0.9, prompt_tokens=1500, expected_output_tokens=1200
)
HARD_MATH = make_features(task_type="math", complexity=0.95, math=1.0, reasoning=0.9)


def routing(**options: object) -> RoutingOptions:
    return RoutingOptions.model_validate(options)


def task_with(cards: list[ModelCard] = CARDS, **kwargs: object) -> RoutingTask:
    request_options = kwargs.pop("routing", None)
    if request_options is not None:
        kwargs["request"] = make_request(routing=request_options)  # type: ignore[arg-type]
    return make_task(cards, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("module", "cls", "name"),
    [
        (cost_optimized, CostOptimizedStrategy, "cost_optimized"),
        (quality_first, QualityFirstStrategy, "quality_first"),
        (cascade, CascadeStrategy, "cascade"),
        (hybrid, HybridStrategy, "hybrid"),
    ],
)
def test_each_module_registers_its_strategy(module: object, cls: type, name: str) -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(module)
    registered: list[Strategy] = []
    pm.hook.modelmuxer_register_strategies(register=registered.append)
    assert len(registered) == 1
    assert isinstance(registered[0], cls)
    assert registered[0].name == name


# -- cost_optimized ------------------------------------------------------------------------------


def test_cost_optimized_picks_the_cheapest_model_meeting_the_target() -> None:
    decision = CostOptimizedStrategy().select(task_with())  # target 0.8: small (0.784) misses
    assert decision.models == ["acme/medium"]
    assert "acme/medium" in decision.reason
    assert "0.87 >= target 0.80" in decision.reason


def test_cost_optimized_reads_the_request_target_before_the_settings() -> None:
    strategy = CostOptimizedStrategy()
    assert strategy.select(task_with(routing=routing(quality_target=0.75))).models == ["acme/small"]
    lenient = StrategySettings(quality_target=0.75)
    assert strategy.select(task_with(settings=lenient)).models == ["acme/small"]
    strict_request = task_with(routing=routing(quality_target=0.9), settings=lenient)
    assert strategy.select(strict_request).models == ["acme/large"]


def test_cost_optimized_falls_back_to_the_best_model_when_none_reaches_the_target() -> None:
    decision = CostOptimizedStrategy().select(task_with(routing=routing(quality_target=0.99)))
    assert decision.models == ["acme/large"]
    assert "no model reaches the quality target 0.99" in decision.reason


def test_cost_optimized_breaks_equal_costs_by_quality_then_id() -> None:
    twins = [make_card("b/weaker", quality=0.85), make_card("a/stronger", quality=0.9)]
    assert CostOptimizedStrategy().select(make_task(twins)).models == ["a/stronger"]
    same = [make_card("b/twin", quality=0.9), make_card("a/twin", quality=0.9)]
    assert CostOptimizedStrategy().select(make_task(same)).models == ["a/twin"]


# -- quality_first -------------------------------------------------------------------------------


def test_quality_first_picks_the_highest_quality() -> None:
    decision = QualityFirstStrategy().select(task_with())
    assert decision.models == ["acme/large"]
    assert "0.94" in decision.reason


def test_quality_first_breaks_near_ties_by_cost() -> None:
    cards = [
        make_card("z/best", input_price_per_mtok=10.0, output_price_per_mtok=30.0, quality=0.903),
        make_card("y/close", input_price_per_mtok=2.0, output_price_per_mtok=6.0, quality=0.9),
    ]
    decision = QualityFirstStrategy().select(make_task(cards))  # 0.9302 vs 0.928: within 0.005
    assert decision.models == ["y/close"]
    assert "within 0.005" in decision.reason


def test_quality_first_does_not_trade_a_real_quality_gap_for_price() -> None:
    cards = [
        make_card("z/best", input_price_per_mtok=10.0, output_price_per_mtok=30.0, quality=0.92),
        make_card("y/cheap", input_price_per_mtok=0.1, output_price_per_mtok=0.2, quality=0.9),
    ]
    assert QualityFirstStrategy().select(make_task(cards)).models == ["z/best"]


def test_quality_first_breaks_exact_ties_by_id() -> None:
    cards = [make_card("b/twin", quality=0.8), make_card("a/twin", quality=0.8)]
    assert QualityFirstStrategy().select(make_task(cards)).models == ["a/twin"]


# -- cascade -------------------------------------------------------------------------------------


def test_cascade_orders_the_chain_cheap_to_strong() -> None:
    decision = CascadeStrategy().select(task_with())
    assert decision.models == ["acme/small", "acme/medium", "acme/large"]
    assert decision.threshold == StrategySettings().cascade_threshold
    assert "acme/small -> acme/medium -> acme/large" in decision.reason


def test_cascade_uses_the_configured_threshold() -> None:
    decision = CascadeStrategy().select(task_with(settings=StrategySettings(cascade_threshold=0.7)))
    assert decision.threshold == 0.7


def test_cascade_drops_dominated_models() -> None:
    pricey_weak = make_card(
        "acme/pricey-weak", input_price_per_mtok=3.0, output_price_per_mtok=9.0, quality=0.75
    )
    same_quality_dearer = make_card(
        "acme/large-premium", input_price_per_mtok=8.0, output_price_per_mtok=24.0, quality=0.92
    )
    task = task_with([*CARDS, pricey_weak, same_quality_dearer])
    assert CascadeStrategy().select(task).models == ["acme/small", "acme/medium", "acme/large"]


def _ladder(n: int) -> list[ModelCard]:
    """``n`` non-dominated models: each twice the price and better than the last."""
    return [
        make_card(
            f"ladder/m{i}",
            input_price_per_mtok=0.1 * 2**i,
            output_price_per_mtok=0.4 * 2**i,
            quality=0.5 + 0.45 * i / (n - 1),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_cascade_keeps_at_most_cascade_max_models(limit: int) -> None:
    task = make_task(_ladder(6), settings=StrategySettings(cascade_max_models=limit))
    chain = CascadeStrategy().select(task).models
    assert len(chain) == limit
    assert chain[-1] == "ladder/m5"  # always ends with the strongest
    if limit > 1:
        assert chain[0] == "ladder/m0"


def test_cascade_picks_the_middles_that_minimise_the_expected_cost() -> None:
    task = make_task(_ladder(6), settings=StrategySettings(cascade_max_models=4))
    chain = CascadeStrategy().select(task).models
    by_id = {c.model: c for c in task.candidates}
    ordered = sorted(task.candidates, key=lambda c: c.cost_usd)
    best = min(
        ([ordered[0], *mid, ordered[-1]] for mid in itertools.combinations(ordered[1:-1], 2)),
        key=expected_chain_cost,
    )
    assert chain == [c.model for c in best]
    assert expected_chain_cost([by_id[m] for m in chain]) == pytest.approx(
        expected_chain_cost(best)
    )


def test_expected_chain_cost() -> None:
    task = task_with()
    small, medium, large = sorted(task.candidates, key=lambda c: c.cost_usd)
    expected = small.cost_usd + (1 - small.quality) * (
        medium.cost_usd + (1 - medium.quality) * large.cost_usd
    )
    assert expected_chain_cost([small, medium, large]) == pytest.approx(expected)


def _ceiling_task(ceiling_of: str) -> tuple[RoutingTask, dict[str, float]]:
    """A task whose cost ceiling is computed from the worst cases of the three models."""
    probe = make_task(CARDS, request=make_request(max_tokens=500))
    worst = {c.model: c.worst_cost_usd for c in probe.candidates}
    sums = {
        "all": sum(worst.values()),
        "ends": worst["acme/small"] + worst["acme/large"],
        "large": worst["acme/large"],
    }
    ceiling = sums[ceiling_of] * 1.001
    request = make_request(max_tokens=500, routing=routing(max_cost_usd=ceiling))
    return make_task(CARDS, request=request), worst


def test_cascade_keeps_the_whole_chain_when_it_fits_the_ceiling() -> None:
    task, _ = _ceiling_task("all")
    assert CascadeStrategy().select(task).models == ["acme/small", "acme/medium", "acme/large"]


def test_cascade_drops_middle_models_to_fit_the_ceiling() -> None:
    task, worst = _ceiling_task("ends")
    decision = CascadeStrategy().select(task)
    assert decision.models == ["acme/small", "acme/large"]
    assert sum(worst[m] for m in decision.models) <= task.request.routing.max_cost_usd  # type: ignore[operator]
    assert "dropped acme/medium" in decision.reason


def test_cascade_falls_back_to_the_best_single_model_under_a_tight_ceiling() -> None:
    task, _ = _ceiling_task("large")
    decision = CascadeStrategy().select(task)
    assert decision.models == ["acme/large"]
    assert decision.threshold is None
    assert "no chain fits the cost ceiling" in decision.reason


def test_cascade_of_one_candidate() -> None:
    decision = CascadeStrategy().select(make_task([MEDIUM]))
    assert decision.models == ["acme/medium"]
    assert decision.threshold is None
    assert "only candidate" in decision.reason


# -- hybrid --------------------------------------------------------------------------------------


def test_hybrid_sends_easy_chat_to_the_cheap_model() -> None:
    decision = HybridStrategy().select(task_with(features=EASY_CHAT))
    assert decision.models == ["acme/small"]


@pytest.mark.parametrize("features", [HARD_CODE, HARD_MATH], ids=["code", "math"])
def test_hybrid_sends_hard_queries_to_the_strong_model(features: object) -> None:
    decision = HybridStrategy().select(task_with(features=features))
    assert decision.models == ["acme/large"]


def test_hybrid_cost_weight_zero_buys_the_best_quality() -> None:
    task = task_with(routing=routing(cost_weight=0.0))
    assert HybridStrategy().select(task).models == ["acme/large"]


def test_hybrid_latency_still_separates_near_equal_qualities_at_cost_weight_zero() -> None:
    # On easy chat large leads medium by < latency_weight and is the slowest model.
    task = task_with(features=EASY_CHAT, routing=routing(cost_weight=0.0))
    assert HybridStrategy().select(task).models == ["acme/medium"]
    no_latency = StrategySettings(latency_weight=0.0)
    task = task_with(features=EASY_CHAT, routing=routing(cost_weight=0.0), settings=no_latency)
    assert HybridStrategy().select(task).models == ["acme/large"]


def test_hybrid_cost_weight_one_buys_the_cheapest() -> None:
    task = task_with(routing=routing(cost_weight=1.0))
    assert HybridStrategy().select(task).models == ["acme/small"]
    settings_only = task_with(features=EASY_CHAT, settings=StrategySettings(cost_weight=1.0))
    assert HybridStrategy().select(settings_only).models == ["acme/small"]


def test_hybrid_hardest_queries_earn_the_strong_model_even_at_cost_weight_one() -> None:
    # (1 - complexity)^2 discounts cost to almost nothing on the hardest queries.
    task = task_with(features=HARD_CODE, settings=StrategySettings(cost_weight=1.0))
    assert HybridStrategy().select(task).models == ["acme/large"]


def test_hybrid_with_prompt_aware_estimates_does_not_discount_hard_queries() -> None:
    # Learned estimates already know the query is hard: the full cost weight applies, so at
    # cost_weight 1 the cheapest model wins where the discounted rule paid for the strongest.
    task = task_with(features=HARD_CODE, settings=StrategySettings(cost_weight=1.0))
    learned = dataclasses.replace(task, prompt_aware=True)
    decision = HybridStrategy().select(learned)
    assert decision.models == ["acme/small"]
    expected = hybrid_scores(learned.candidates, 1.0, learned.settings.latency_weight)
    assert {e.model: e.score for e in decision.candidates} == pytest.approx(expected)
    assert "learned estimates" in decision.reason


def test_hybrid_with_prompt_aware_estimates_still_buys_quality_at_cost_weight_zero() -> None:
    settings = StrategySettings(cost_weight=0.0, latency_weight=0.0)
    learned = dataclasses.replace(
        task_with(features=EASY_CHAT, settings=settings), prompt_aware=True
    )
    assert HybridStrategy().select(learned).models == ["acme/large"]


def test_hybrid_request_cost_weight_overrides_the_settings() -> None:
    task = task_with(routing=routing(cost_weight=0.0), settings=StrategySettings(cost_weight=1.0))
    assert HybridStrategy().select(task).models == ["acme/large"]


def test_hybrid_reports_every_score_and_picks_the_highest() -> None:
    decision = HybridStrategy().select(task_with(features=HARD_CODE))
    scores = {e.model: e.score for e in decision.candidates}
    assert all(score is not None for score in scores.values())
    assert max(scores, key=lambda m: scores[m] or 0.0) == decision.model
    assert "cost_weight 0.35" in decision.reason
    assert "complexity 0.90" in decision.reason


def test_hybrid_scores_follow_the_documented_formula() -> None:
    task = task_with(features=HARD_CODE)
    scores = hybrid_scores(task.candidates, 0.2, 0.1)
    by_id = {c.model: c for c in task.candidates}
    small, medium, large = (by_id[m] for m in ("acme/small", "acme/medium", "acme/large"))
    lat_min = min(c.latency_s for c in task.candidates)
    lat_span = max(c.latency_s for c in task.candidates) - lat_min
    c_norm = math.log(medium.cost_usd / small.cost_usd) / math.log(large.cost_usd / small.cost_usd)
    l_norm = (medium.latency_s - lat_min) / lat_span
    assert scores["acme/medium"] == pytest.approx(medium.quality - 0.2 * c_norm - 0.1 * l_norm)
    assert scores["acme/small"] == pytest.approx(
        small.quality - 0.1 * (small.latency_s - lat_min) / lat_span
    )
    assert scores["acme/large"] == pytest.approx(large.quality - 0.2 - 0.1)  # dearest, slowest


def test_hybrid_handles_a_free_model() -> None:
    free = make_card(
        "local/llama", input_price_per_mtok=0.0, output_price_per_mtok=0.0, quality=0.75
    )
    task = task_with([*CARDS, free], features=EASY_CHAT)
    decision = HybridStrategy().select(task)
    assert decision.models == ["local/llama"]  # better than small on easy chat, and free
    scores = hybrid_scores(task.candidates, 1.0, 0.0)
    assert all(math.isfinite(s) for s in scores.values())
    assert scores["local/llama"] == pytest.approx(
        next(c.quality for c in task.candidates if c.model == "local/llama")
    )


def test_hybrid_with_equal_costs_picks_the_best_quality() -> None:
    cards = [make_card(f"same/m{i}", quality=0.6 + 0.1 * i) for i in range(3)]
    assert HybridStrategy().select(make_task(cards)).models == ["same/m2"]


def test_hybrid_breaks_exact_ties_by_cost_then_id() -> None:
    cards = [make_card("b/twin"), make_card("a/twin")]
    assert HybridStrategy().select(make_task(cards)).models == ["a/twin"]
