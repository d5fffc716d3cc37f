"""Learning from your own traffic: the ledger's feedback as an outcome table.

Record feedback on a call with :meth:`CostLedger.record_feedback` (a score in [0, 1]; thumbs
up / down as 1 / 0; an eval result), then ``modelmuxer train --from-ledger URL`` trains on every
scored call: the answering model's score on that request, with the query features the ledger
recorded and the prompt when the ledger stores prompts (``ledger.store_prompts``; without
prompts the predictor learns from the query features alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.errors import ConfigError
from modelmuxer.learning.outcomes import OutcomeTable

if TYPE_CHECKING:
    from modelmuxer.ledger import TrainingRow

__all__ = ["ledger_rows", "rows_table"]

_FIELDS = QueryFeatures._fields


def _features(raw: dict[str, Any]) -> QueryFeatures:
    try:
        return QueryFeatures(**{k: raw[k] for k in _FIELDS if k in raw})
    except TypeError as exc:
        raise ConfigError(f"a ledger row's features are incomplete: {exc}") from exc


def rows_table(rows: Sequence[TrainingRow]) -> tuple[OutcomeTable, list[QueryFeatures]]:
    """Scored calls as an outcome table (one row per request, the answering model scored) and
    their query features."""
    if not rows:
        raise ConfigError(
            "the ledger holds no calls with feedback: record some with "
            "CostLedger.record_feedback(request_id, score) first"
        )
    models = tuple(dict.fromkeys(r.model for r in rows))
    scores = np.full((len(rows), len(models)), np.nan)
    for i, r in enumerate(rows):
        scores[i, models.index(r.model)] = min(max(float(r.score), 0.0), 1.0)
    prompts = tuple(r.prompt or "" for r in rows)
    table = OutcomeTable(
        kind="ledger",
        models=models,
        prompts=prompts,
        raw_prompts=prompts,
        sample_ids=tuple(r.request_id for r in rows),
        groups=tuple(r.request_id for r in rows),
        scores=scores,
        costs=np.full((len(rows), len(models)), np.nan),
        answers=tuple(tuple(None for _ in models) for _ in rows),
    )
    return table, [_features(r.features) for r in rows]


def ledger_rows(url: str, since: datetime | None = None) -> list[TrainingRow]:
    """The scored calls of the ledger at ``url`` (its schema is migrated when needed)."""
    from modelmuxer.ledger import CostLedger, LedgerSettings

    ledger = CostLedger(LedgerSettings(enabled=True, url=url))
    try:
        return ledger.training_rows(since)
    finally:
        ledger.close()
