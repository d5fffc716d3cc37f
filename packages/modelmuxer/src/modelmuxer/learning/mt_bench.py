"""MT-Bench judgments (RouteLLM's ``mt_bench/``) as an outcome table.

``judgements.jsonl`` holds GPT-4's 1–10 grade of each model's answer to each turn of the 80
questions in ``question.jsonl`` beside it. Each (question, turn) becomes a row whose prompt is
that turn's user message; a grade ``g`` becomes the score ``(g - 1) / 9``. There are no costs:
prices are needed, as for the two-model CSVs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelmuxer.analysis import estimate_tokens
from modelmuxer.errors import ConfigError
from modelmuxer.learning.outcomes import OutcomeTable

__all__ = ["read_mt_bench"]


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read MT-Bench file {path}: {exc}") from exc


def read_mt_bench(path: str | Path, prices: Mapping[str, float]) -> OutcomeTable:
    """``judgements.jsonl`` (with ``question.jsonl`` beside it) as an outcome table."""
    path = Path(path)
    turns = {q["question_id"]: q["turns"] for q in _lines(path.with_name("question.jsonl"))}
    grades: dict[tuple[int, int], dict[str, float]] = {}
    for row in _lines(path):
        key = (int(row["question_id"]), int(row["turn"]))
        grades.setdefault(key, {})[row["model"]] = (float(row["score"]) - 1.0) / 9.0
    models = tuple(sorted({m for by_model in grades.values() for m in by_model}))
    unpriced = [m for m in models if m not in prices]
    if unpriced:
        raise ConfigError(
            f"{path} has no costs: give each model's price with --price MODEL=USD_PER_MTOK "
            f"(missing: {', '.join(unpriced)})"
        )
    keys = sorted(k for k in grades if k[0] in turns and k[1] <= len(turns[k[0]]))
    prompts = tuple(turns[q][t - 1] for q, t in keys)
    scores = np.array(
        [[grades[k].get(m, np.nan) for m in models] for k in keys], dtype=np.float64
    ).reshape(len(keys), len(models))
    tokens = np.array([estimate_tokens(p) + 1 for p in prompts], dtype=np.float64)
    costs = tokens[:, None] * np.array([prices[m] for m in models])[None, :] / 1e6
    return OutcomeTable(
        kind="two-model" if len(models) == 2 else "mt-bench",
        models=models,
        prompts=prompts,
        raw_prompts=prompts,
        sample_ids=tuple(f"mt_bench/{q}/{t}" for q, t in keys),
        groups=tuple("mt_bench" for _ in keys),
        scores=np.clip(scores, 0.0, 1.0),
        costs=costs,
        answers=tuple(tuple(None for _ in models) for _ in keys),
    )
