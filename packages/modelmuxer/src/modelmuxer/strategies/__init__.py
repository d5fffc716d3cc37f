"""Routing strategies: the contract, the estimates they read, and the four built-ins.

Each built-in lives in its own module and registers itself through
``modelmuxer_register_strategies``, exactly like a third-party strategy plugin.
"""

from modelmuxer.strategies.base import Candidate, RoutingTask, Strategy, StrategySettings
from modelmuxer.strategies.cascade import CascadeStrategy
from modelmuxer.strategies.cost_optimized import CostOptimizedStrategy
from modelmuxer.strategies.estimates import PriorQualityEstimator, QualityEstimator
from modelmuxer.strategies.hybrid import HybridStrategy
from modelmuxer.strategies.quality_first import QualityFirstStrategy

__all__ = [
    "Candidate",
    "CascadeStrategy",
    "CostOptimizedStrategy",
    "HybridStrategy",
    "PriorQualityEstimator",
    "QualityEstimator",
    "QualityFirstStrategy",
    "RoutingTask",
    "Strategy",
    "StrategySettings",
]
