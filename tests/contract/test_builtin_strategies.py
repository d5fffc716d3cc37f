"""The strategy contract suite on every built-in strategy, and on broken ones to prove it bites."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings

from modelmuxer.strategies import (
    CascadeStrategy,
    CostOptimizedStrategy,
    HybridStrategy,
    QualityFirstStrategy,
    RoutingTask,
    Strategy,
)
from modelmuxer.testing import StrategyContractTests, random_routing_tasks
from modelmuxer.types import Decision


class TestCostOptimizedContract(StrategyContractTests):
    def make_strategy(self) -> Strategy:
        return CostOptimizedStrategy()


class TestQualityFirstContract(StrategyContractTests):
    def make_strategy(self) -> Strategy:
        return QualityFirstStrategy()


class TestCascadeContract(StrategyContractTests):
    def make_strategy(self) -> Strategy:
        return CascadeStrategy()


class TestHybridContract(StrategyContractTests):
    def make_strategy(self) -> Strategy:
        return HybridStrategy()


# -- the suite must fail a strategy that breaks the contract --------------------------------------


class _PicksExcluded:
    name = "picks_excluded"
    description = "chooses a model that is not a candidate"

    def select(self, task: RoutingTask) -> Decision:
        return task.decide(self.name, ["not/a-candidate"], "because")


class _DropsExclusions:
    name = "drops_exclusions"
    description = "forgets to report the excluded models"

    def select(self, task: RoutingTask) -> Decision:
        model = task.candidates[0].model
        return Decision(
            strategy=self.name,
            models=[model],
            candidates=[e for e in task.estimates() if e.excluded is None],
            reason=f"{model}: first",
            features=task.features.as_dict(),
        )


class _Flaky:
    """Alternates between candidates: not deterministic."""

    name = "flaky"
    description = "remembers its last choice"

    def __init__(self) -> None:
        self._calls = 0

    def select(self, task: RoutingTask) -> Decision:
        self._calls += 1
        model = task.candidates[self._calls % len(task.candidates)].model
        return task.decide(self.name, [model], f"{model}: call {self._calls}")


class _WrongName:
    name = "wrong_name"
    description = "signs decisions with another name"

    def select(self, task: RoutingTask) -> Decision:
        return task.decide("hybrid", [task.candidates[0].model], "first")


def _suite_for(strategy: Strategy) -> StrategyContractTests:
    class _Suite(StrategyContractTests):
        def make_strategy(self) -> Strategy:
            return strategy

    return _Suite()


@pytest.mark.parametrize(
    ("strategy", "test_name"),
    [
        (_PicksExcluded(), "test_chooses_among_candidates_only"),
        (_DropsExclusions(), "test_reports_every_candidate_and_exclusion"),
        (_Flaky(), "test_is_deterministic"),
        (_Flaky(), "test_random_candidate_sets"),
        (_WrongName(), "test_decision_names_the_strategy"),
    ],
)
def test_contract_rejects_broken_strategies(strategy: Strategy, test_name: str) -> None:
    suite = _suite_for(strategy)
    test = getattr(type(suite), test_name)
    if hasattr(test, "hypothesis"):  # rerun without shrinking: finding a failure is enough
        fast = settings(max_examples=20, phases=[Phase.generate], database=None)
        test = given(task=random_routing_tasks())(fast(test.hypothesis.inner_test))
    with pytest.raises(AssertionError):
        test(suite)
