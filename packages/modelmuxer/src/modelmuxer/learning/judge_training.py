"""Fitting the answer judge from the answers an outcome table holds (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.backends.base import ModelResponse
from modelmuxer.judging.structural import structural_score
from modelmuxer.learning._sklearn import logistic_regression
from modelmuxer.learning._sklearn import sparse as sp
from modelmuxer.learning.judge import ANSWER_DENSE, AnswerJudge, answer_dense
from modelmuxer.learning.outcomes import OutcomeTable
from modelmuxer.learning.text import TextFeaturizer
from modelmuxer.learning.training import featurize
from modelmuxer.types import Request, Usage

__all__ = ["answered_cells", "fit_judge", "structural_of"]

FloatArray = npt.NDArray[np.float64]
_NONE = Usage()
_PLAIN = Request.model_validate({"messages": [{"role": "user", "content": "-"}]})


def structural_of(answer: str) -> float:
    """The structural score of a plain-text answer (no tools or JSON were asked for)."""
    return structural_score(_PLAIN, ModelResponse(text=answer, finish_reason="stop", usage=_NONE))


def answered_cells(table: OutcomeTable) -> list[tuple[int, int]]:
    """The (row, model) cells that have both an answer and a score."""
    return [
        (i, j)
        for i, row in enumerate(table.answers)
        for j, answer in enumerate(row)
        if answer is not None and not np.isnan(table.scores[i, j])
    ]


def _dense_block(
    table: OutcomeTable, cells: Sequence[tuple[int, int]], tiers: Sequence[float]
) -> sp.csr_matrix:
    rows = []
    for i, j in cells:
        answer = table.answers[i][j] or ""
        rows.append(answer_dense(answer, structural_of(answer), tiers[j]))
    return sp.csr_matrix(np.asarray(rows, dtype=np.float64).reshape(len(cells), len(ANSWER_DENSE)))


def fit_judge(
    table: OutcomeTable,
    features: Sequence[QueryFeatures],
    prompt_featurizer: TextFeaturizer,
    tiers: Sequence[float],
    *,
    c: float = 1.0,
    max_tokens: int = 3000,
    seed: int = 0,
) -> AnswerJudge | None:
    """An :class:`AnswerJudge` fitted on every answered cell; ``None`` with fewer than 20
    answers, or when they all score 1 (or all 0). ``seed`` fixes the solver's shuffling."""

    cells = answered_cells(table)
    scores = np.array([table.scores[i, j] for i, j in cells])
    if len(cells) < 20 or np.all(scores == 1.0) or np.all(scores == 0.0):
        return None  # too few answers, or all good / all bad: nothing to tell apart
    answers = [table.answers[i][j] or "" for i, j in cells]
    answer_featurizer = TextFeaturizer.fit(answers, max_tokens=max_tokens)
    x_prompt = featurize(prompt_featurizer, table.prompts, features)[[i for i, _ in cells]]
    x_answer = featurize(answer_featurizer, answers, [features[i] for i, _ in cells])
    design = sp.hstack([x_prompt, x_answer, _dense_block(table, cells, tiers)], format="csr")
    labels = np.concatenate([np.ones(len(cells)), np.zeros(len(cells))])
    weights = np.concatenate([scores, 1.0 - scores])
    keep = weights > 0.0
    fit = logistic_regression(c, seed)
    fit.fit(
        sp.vstack([design, design], format="csr")[keep], labels[keep], sample_weight=weights[keep]
    )
    coef = fit.coef_[0]
    wp = prompt_featurizer.width
    wa = answer_featurizer.width
    return AnswerJudge(
        prompt_featurizer=prompt_featurizer,
        answer_featurizer=answer_featurizer,
        prompt_weights=coef[:wp].copy(),
        answer_weights=coef[wp : wp + wa].copy(),
        dense_weights=coef[wp + wa :].copy(),
    )
