"""The plugin through which a trained router replaces the priors and judges cascade answers.

``MuxerSettings.router`` (``MODELMUXER_ROUTER``) names a router file or ``"default"``; the
muxer then registers :class:`LearnedRouterPlugin`, which implements

- ``modelmuxer_quality_estimator``: the learned :class:`QualityPredictor` (``hybrid``,
  ``cost_optimized``, ``quality_first`` and ``cascade`` all read its estimates);
- ``modelmuxer_register_strategies``: the ``utility`` and ``utility_cascade`` strategies
  (:mod:`modelmuxer.learning.utility`), the rules that get the most out of calibrated
  estimates;
- ``modelmuxer_judge``: the learned :class:`AnswerJudge` for plain-text answers, combined with
  the structural checks (a broken answer keeps its structural score). It defers (``None``) when
  the router file has no judge, or when tools or JSON were asked for: the structural judge
  knows those cases better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.judging.structural import structural_score
from modelmuxer.learning.artifact import LearnedRouter, load_router
from modelmuxer.learning.predictor import request_text
from modelmuxer.learning.utility import UtilityCascadeStrategy, UtilityStrategy
from modelmuxer.strategies.base import Strategy
from modelmuxer.strategies.estimates import QualityEstimator

__all__ = ["LearnedRouterPlugin"]


class LearnedRouterPlugin:
    """Registers a :class:`LearnedRouter`'s predictor and judge on a muxer."""

    def __init__(self, router: LearnedRouter) -> None:
        self.router = router

    @classmethod
    def load(
        cls, source: str | Path, aliases: Mapping[str, str] | None = None
    ) -> LearnedRouterPlugin:
        """The plugin for a router file (``"default"``: the shipped one)."""
        return cls(load_router(source, aliases))

    @hookimpl
    def modelmuxer_register_strategies(self, register: Callable[[Strategy], None]) -> None:
        """The ``utility`` and ``utility_cascade`` strategies, made for calibrated estimates."""
        register(UtilityStrategy())
        register(UtilityCascadeStrategy())

    @hookimpl
    def modelmuxer_quality_estimator(self) -> QualityEstimator:
        """The learned quality predictor."""
        return self.router.predictor

    @hookimpl
    def modelmuxer_judge(
        self, ctx: RequestContext, call: ModelCall, response: ModelResponse
    ) -> float | None:
        """P(the answer is good), or the structural score when the answer is broken."""
        judge = self.router.judge
        request = call.request
        if (
            judge is None
            or ctx.features is None
            or request.params.tools
            or request.params.wants_json
        ):
            return None
        structural = structural_score(request, response)
        return judge.score(
            request_text(request),
            ctx.features,
            response.text,
            structural=structural,
            prior_quality=call.card.quality,
        )
