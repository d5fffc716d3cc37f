"""The learned cascade judge: P(answer is good | request, answer, model), with numpy only.

A logistic model over the prompt's features, the answer's features (its own vocabulary) and a
few dense answer features (length, the structural score), plus the answering model's tier. It
is combined with the structural checks: an answer that is structurally broken (empty, refused,
truncated, malformed) keeps the structural score; otherwise the learned probability is the score.
Because the score is a calibrated probability, a cascade can take its threshold straight from a
quality target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.learning.predictor import tier
from modelmuxer.learning.text import TextFeaturizer

__all__ = ["ANSWER_DENSE", "AnswerJudge", "answer_dense"]

FloatArray = npt.NDArray[np.float64]

ANSWER_DENSE: tuple[str, ...] = ("bias", "log_chars", "log_lines", "structural", "tier")


def answer_dense(answer: str, structural: float, model_tier: float) -> list[float]:
    """Dense answer features (:data:`ANSWER_DENSE`)."""
    return [
        1.0,
        math.log1p(len(answer)) / 8.0,
        math.log1p(answer.count("\n")) / 5.0,
        structural,
        model_tier / 3.0,
    ]


@dataclass(frozen=True)
class AnswerJudge:
    """Scores answers: ``sigmoid(w_prompt . x_prompt + w_answer . x_answer + w_dense . d)``."""

    prompt_featurizer: TextFeaturizer
    answer_featurizer: TextFeaturizer
    prompt_weights: FloatArray
    answer_weights: FloatArray
    dense_weights: FloatArray
    weights: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        all_weights = np.concatenate([self.prompt_weights, self.answer_weights, self.dense_weights])
        object.__setattr__(self, "weights", all_weights)

    def vector(
        self,
        prompt: str,
        features: QueryFeatures,
        answer: str,
        structural: float,
        model_tier: float,
    ) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """The judge's sparse input: prompt block, answer block, dense block (column-offset)."""
        p_idx, p_val = self.prompt_featurizer.sparse(prompt, features)
        a_idx, a_val = self.answer_featurizer.sparse(answer, features)
        offset_a = self.prompt_featurizer.width
        offset_d = offset_a + self.answer_featurizer.width
        dense = answer_dense(answer, structural, model_tier)
        idx = np.concatenate([p_idx, a_idx + offset_a, offset_d + np.arange(len(dense))])
        vals = np.concatenate([p_val, a_val, np.asarray(dense, dtype=np.float64)])
        return idx, vals

    def probability(
        self,
        prompt: str,
        features: QueryFeatures,
        answer: str,
        *,
        structural: float = 1.0,
        prior_quality: float = 0.7,
    ) -> float:
        """P(the answer is good)."""
        idx, vals = self.vector(prompt, features, answer, structural, tier(prior_quality))
        z = float(self.weights[idx] @ vals)
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def score(
        self,
        prompt: str,
        features: QueryFeatures,
        answer: str,
        *,
        structural: float,
        prior_quality: float,
    ) -> float:
        """The cascade score: the structural score when the answer is broken, else P(good)."""
        if structural < 1.0:
            return structural
        return self.probability(
            prompt, features, answer, structural=structural, prior_quality=prior_quality
        )
