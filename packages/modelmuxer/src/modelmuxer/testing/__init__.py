"""Test helpers for ModelMuxer plugins: the strategy contract suite and small factories.

Needs ``pytest`` and ``hypothesis`` (test-time dependencies). A strategy plugin's tests::

    from modelmuxer.testing import StrategyContractTests, make_card, make_task

    class TestMyStrategy(StrategyContractTests):
        def make_strategy(self):
            return MyStrategy()
"""

from modelmuxer.testing._contract import (
    StrategyContractTests,
    check_decision,
    random_routing_tasks,
)
from modelmuxer.testing._factories import (
    make_card,
    make_features,
    make_request,
    make_task,
    make_tool,
)
from modelmuxer.testing.near_misses import NEAR_MISS_PAIRS

__all__ = [
    "NEAR_MISS_PAIRS",
    "StrategyContractTests",
    "check_decision",
    "make_card",
    "make_features",
    "make_request",
    "make_task",
    "make_tool",
    "random_routing_tasks",
]
