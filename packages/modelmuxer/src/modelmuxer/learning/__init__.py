"""Learned routing: the quality predictor, the answer judge, training and evaluation.

Load a trained router with ``MuxerSettings(router=PATH or "default")``; train one with
``modelmuxer train``, evaluate with ``modelmuxer eval`` (see ``docs/routing.md``). Routing with
a loaded router needs numpy only; training imports scikit-learn.
"""

from modelmuxer.learning.artifact import DEFAULT_ROUTER, LearnedRouter, load_router, save_router
from modelmuxer.learning.judge import AnswerJudge
from modelmuxer.learning.plugin import LearnedRouterPlugin
from modelmuxer.learning.predictor import LinearQualityModel, QualityPredictor
from modelmuxer.learning.utility import UtilityCascadeStrategy, UtilityStrategy

__all__ = [
    "DEFAULT_ROUTER",
    "AnswerJudge",
    "LearnedRouter",
    "LearnedRouterPlugin",
    "LinearQualityModel",
    "QualityPredictor",
    "UtilityCascadeStrategy",
    "UtilityStrategy",
    "load_router",
    "save_router",
]
