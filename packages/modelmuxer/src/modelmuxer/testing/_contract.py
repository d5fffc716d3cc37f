"""The standard test suite every routing strategy should pass.

Subclass it in your own tests and say how to build your strategy::

    from modelmuxer.testing import StrategyContractTests

    class TestMyStrategy(StrategyContractTests):
        def make_strategy(self) -> Strategy:
            return MyStrategy()

pytest collects the subclass (its name starts with ``Test``) with every test below; the base
class itself is not collected. Override :meth:`StrategyContractTests.make_cards` when your
strategy needs particular cards, and add your own ``test_*`` methods beside the inherited ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelmuxer.strategies.base import RoutingTask, Strategy, StrategySettings
from modelmuxer.testing._factories import (
    make_card,
    make_features,
    make_request,
    make_task,
    make_tool,
)
from modelmuxer.types import Decision, ModelCard, RoutingOptions

__all__ = ["StrategyContractTests", "check_decision", "random_routing_tasks"]


def check_decision(strategy: Strategy, task: RoutingTask, decision: Decision) -> None:
    """Assert that ``decision`` honours the strategy contract for ``task``.

    A :class:`Decision` from ``strategy``, naming it, choosing a non-empty list of distinct
    eligible candidates, with a non-empty reason, every candidate and every excluded model (with
    its reason) reported once, the task's features, and a threshold in [0, 1] when set.
    """
    assert isinstance(decision, Decision), f"select() returned {decision!r}, not a Decision"
    assert decision.strategy == strategy.name, (
        f"decision.strategy is {decision.strategy!r}, the strategy is named {strategy.name!r}"
    )
    eligible = [c.model for c in task.candidates]
    assert decision.models, "a decision must name at least one model"
    stray = [m for m in decision.models if m not in eligible]
    assert not stray, f"chose {stray}, which are not among the candidates {eligible}"
    assert len(set(decision.models)) == len(decision.models), f"repeats: {decision.models}"
    assert decision.reason.strip(), "the reason is blank"
    reported = {e.model: e for e in decision.candidates}
    assert len(reported) == len(decision.candidates), "a candidate is reported twice"
    assert set(reported) == set(eligible) | set(task.excluded), (
        f"decision.candidates lists {sorted(reported)}, expected the candidates {eligible} "
        f"and the excluded models {sorted(task.excluded)}"
    )
    for model in eligible:
        assert reported[model].excluded is None, f"eligible {model} is reported as excluded"
    for model, why in task.excluded.items():
        assert reported[model].excluded == why, f"excluded {model} lost its reason {why!r}"
    assert decision.features == task.features.as_dict(), "the decision lost the task's features"
    if decision.threshold is not None:
        assert 0.0 <= decision.threshold <= 1.0, f"threshold {decision.threshold} not in [0, 1]"


def _rebuilt(task: RoutingTask) -> RoutingTask:
    """An equal task made of fresh objects."""
    return RoutingTask(
        request=task.request.model_copy(deep=True),
        features=task.features._replace(),
        candidates=tuple(dataclasses.replace(c) for c in task.candidates),
        excluded=dict(task.excluded),
        settings=dataclasses.replace(task.settings),
    )


def _easy_chat(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(task_type="chat", complexity=0.05, prompt_tokens=12)
    return make_task(cards, features=features, request=make_request("hi there!"))


def _hard_code(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(
        task_type="code",
        complexity=0.9,
        code=0.9,
        reasoning=0.7,
        prompt_tokens=1_800,
        expected_output_tokens=1_200,
    )
    return make_task(cards, features=features, request=make_request("Write a lock-free queue"))


def _hard_math(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(task_type="math", complexity=0.95, math=1.0, reasoning=0.9)
    return make_task(cards, features=features, request=make_request("Prove that sqrt(2) ..."))


def _long_document(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(
        task_type="summarization",
        complexity=0.4,
        prompt_tokens=90_000,
        expected_output_tokens=600,
        sampled=True,
    )
    return make_task(cards, features=features, request=make_request("Summarise: ..."))


def _tools(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(task_type="tool_use", needs_tools=True, prompt_tokens=220)
    request = make_request("Weather in Paris?", tools=[make_tool()], tool_choice="required")
    return make_task(cards, features=features, request=request)


def _json(cards: list[ModelCard]) -> RoutingTask:
    features = make_features(task_type="extraction", needs_json=True, complexity=0.3)
    request = make_request("Extract the names", response_format={"type": "json_object"})
    return make_task(cards, features=features, request=request)


def _demanding_caller(cards: list[ModelCard]) -> RoutingTask:
    routing = RoutingOptions(quality_target=0.99, cost_weight=0.0)
    return make_task(cards, request=make_request(routing=routing))


def _thrifty_caller(cards: list[ModelCard]) -> RoutingTask:
    routing = RoutingOptions(quality_target=0.1, cost_weight=1.0, max_cost_usd=0.05)
    request = make_request(routing=routing, max_tokens=1_000)
    return make_task(cards, request=request, settings=StrategySettings(cascade_max_models=4))


_SCENARIOS: dict[str, Callable[[list[ModelCard]], RoutingTask]] = {
    "easy_chat": _easy_chat,
    "hard_code": _hard_code,
    "hard_math": _hard_math,
    "long_document": _long_document,
    "tools": _tools,
    "json": _json,
    "demanding_caller": _demanding_caller,
    "thrifty_caller": _thrifty_caller,
}

_PRICES = st.one_of(st.sampled_from([0.0, 0.15, 1.0, 15.0]), st.floats(0.0, 100.0))
_QUALITIES = st.one_of(st.sampled_from([0.5, 0.7, 0.9]), st.floats(0.0, 1.0))


@st.composite
def random_routing_tasks(draw: Any) -> RoutingTask:
    """A hypothesis strategy of routing tasks, for property tests of strategies.

    One to six candidates with random prices (free ones and ties included), qualities and
    latencies; random complexity, prompt and output sizes; random per-request knobs
    (quality target, cost weight, cost ceiling), ``max_tokens``, ``cascade_max_models`` and
    policy exclusions.
    """
    n = draw(st.integers(1, 6))
    cards = [
        make_card(
            f"p{i}/m{i}",
            input_price_per_mtok=draw(_PRICES),
            output_price_per_mtok=draw(_PRICES),
            quality=draw(_QUALITIES),
            ttft_s=draw(st.floats(0.0, 3.0)),
            tokens_per_s=draw(st.floats(5.0, 500.0)),
        )
        for i in range(n)
    ]
    features = make_features(
        complexity=draw(st.floats(0.0, 1.0)),
        prompt_tokens=draw(st.integers(1, 20_000)),
        expected_output_tokens=draw(st.integers(1, 2_000)),
    )
    routing = RoutingOptions(
        quality_target=draw(st.none() | st.floats(0.0, 1.0)),
        cost_weight=draw(st.none() | st.floats(0.0, 1.0)),
        max_cost_usd=draw(st.none() | st.floats(1e-4, 1.0)),
    )
    strategy_settings = StrategySettings(cascade_max_models=draw(st.integers(1, 4)))
    excluded = {
        m: "excluded by a test policy" for m in draw(st.sets(st.sampled_from(["gone/x", "gone/y"])))
    }
    request = make_request(routing=routing, max_tokens=draw(st.none() | st.integers(1, 4_000)))
    try:
        return make_task(
            cards,
            features=features,
            request=request,
            settings=strategy_settings,
            excluded=excluded,
        )
    except ValueError:  # the ceiling excluded every card: route without it
        request = request.model_copy(update={"routing": RoutingOptions()})
        return make_task(cards, features=features, request=request, settings=strategy_settings)


class StrategyContractTests:
    """The strategy contract as tests. Subclasses implement :meth:`make_strategy`."""

    def make_strategy(self) -> Strategy:
        """A fresh instance of the strategy under test."""
        raise NotImplementedError("subclasses of StrategyContractTests implement make_strategy()")

    def make_cards(self) -> list[ModelCard]:
        """The models most tests route between: cheap to strong, one without tools, one short.

        An override should keep at least two models, and models with tools, with JSON mode and
        with a context window above 100k tokens, so every scenario has a candidate.
        """
        return [
            make_card(
                "acme/small",
                input_price_per_mtok=0.15,
                output_price_per_mtok=0.6,
                quality=0.68,
                tokens_per_s=150.0,
            ),
            make_card(
                "acme/medium", input_price_per_mtok=1.0, output_price_per_mtok=4.0, quality=0.8
            ),
            make_card(
                "acme/large",
                input_price_per_mtok=5.0,
                output_price_per_mtok=15.0,
                quality=0.92,
                ttft_s=0.9,
                tokens_per_s=50.0,
            ),
            make_card(
                "other/chatty",
                input_price_per_mtok=0.5,
                output_price_per_mtok=1.5,
                quality=0.72,
                tools=False,
                json_mode=False,
            ),
            make_card(
                "other/short",
                input_price_per_mtok=0.3,
                output_price_per_mtok=1.2,
                quality=0.75,
                context_window=16_000,
            ),
        ]

    def select_checked(self, task: RoutingTask, strategy: Strategy | None = None) -> Decision:
        """Select with the strategy and check the decision against the contract."""
        strategy = strategy or self.make_strategy()
        decision = strategy.select(task)
        check_decision(strategy, task, decision)
        return decision

    def test_is_a_strategy(self) -> None:
        strategy = self.make_strategy()
        assert isinstance(strategy, Strategy)
        assert isinstance(strategy.name, str)
        assert strategy.name.strip(), "a strategy needs a name"
        assert isinstance(strategy.description, str)
        assert strategy.description.strip(), "a strategy needs a description"

    def test_chooses_among_candidates_only(self) -> None:
        cards = self.make_cards()
        denied = cards[-1].id
        task = make_task(cards, excluded={denied: "denied by a test policy"})
        assert denied not in self.select_checked(task).models

    def test_reports_every_candidate_and_exclusion(self) -> None:
        cards = [*self.make_cards(), make_card("test/no-tools", tools=False)]
        task = _tools(cards)
        task = dataclasses.replace(task, excluded={**task.excluded, "test/gone": "a policy"})
        decision = self.select_checked(task)
        assert decision.estimate("test/no-tools") is not None
        assert decision.estimate("test/gone") is not None

    def test_is_deterministic(self) -> None:
        strategy = self.make_strategy()
        task = _hard_code(self.make_cards())
        assert strategy.select(task) == strategy.select(task)

    def test_ignores_no_op_rebuilding(self) -> None:
        for build in _SCENARIOS.values():
            task = build(self.make_cards())
            assert self.select_checked(task) == self.select_checked(
                _rebuilt(task), self.make_strategy()
            )

    def test_reason_is_not_blank(self) -> None:
        assert self.select_checked(_easy_chat(self.make_cards())).reason.strip()

    def test_decision_names_the_strategy(self) -> None:
        strategy = self.make_strategy()
        assert (
            self.select_checked(_easy_chat(self.make_cards()), strategy).strategy == strategy.name
        )

    def test_single_candidate(self) -> None:
        task = make_task([make_card("solo/model")])
        assert self.select_checked(task).models == ["solo/model"]

    def test_single_candidate_among_excluded(self) -> None:
        only, *others = self.make_cards()
        task = make_task([only, *others], excluded={c.id: "denied" for c in others})
        assert self.select_checked(task).models == [only.id]

    def test_free_model(self) -> None:
        cards = [
            *self.make_cards(),
            make_card(
                "local/llama",
                input_price_per_mtok=0.0,
                output_price_per_mtok=0.0,
                quality=0.6,
                tokens_per_s=30.0,
            ),
        ]
        self.select_checked(make_task(cards))
        self.select_checked(_hard_code(cards))

    def test_only_free_models(self) -> None:
        cards = [
            make_card("local/a", input_price_per_mtok=0.0, output_price_per_mtok=0.0),
            make_card("local/b", input_price_per_mtok=0.0, output_price_per_mtok=0.0, quality=0.9),
        ]
        self.select_checked(make_task(cards))

    def test_equal_costs(self) -> None:
        cards = [make_card(f"same/m{i}", quality=0.6 + 0.1 * i) for i in range(3)]
        self.select_checked(make_task(cards))
        identical = [make_card(f"twin/m{i}") for i in range(3)]
        self.select_checked(make_task(identical))

    @pytest.mark.parametrize("scenario", sorted(_SCENARIOS))
    def test_scenario(self, scenario: str) -> None:
        self.select_checked(_SCENARIOS[scenario](self.make_cards()))

    # Every subclass runs this one method on its own strategy: differing executors are the point.
    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(task=random_routing_tasks())
    def test_random_candidate_sets(self, task: RoutingTask) -> None:
        strategy = self.make_strategy()
        decision = self.select_checked(task, strategy)
        assert strategy.select(task) == decision
