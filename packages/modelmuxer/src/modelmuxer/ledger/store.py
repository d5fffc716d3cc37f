"""Writes and point reads of the ledger: idempotent inserts, feedback, training rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, SupportsFloat

from sqlalchemy import Insert, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from modelmuxer.ledger.errors import InvalidFeedback, UnknownRequest
from modelmuxer.ledger.models import CallRow, FeedbackRow

__all__ = ["TrainingRow", "add_feedback", "insert_calls", "training_rows"]

_CALLS: Table = CallRow.__table__  # type: ignore[assignment]  # a Table, typed FromClause
_FEEDBACK: Table = FeedbackRow.__table__  # type: ignore[assignment]


def _insert_ignoring_duplicates(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (request_id, attempt) DO NOTHING``: replays are idempotent."""
    keys = ["request_id", "attempt"]
    if dialect == "sqlite":
        return sqlite.insert(_CALLS).on_conflict_do_nothing(index_elements=keys)
    if dialect == "postgresql":
        return postgresql.insert(_CALLS).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")


async def insert_calls(
    engine: AsyncEngine, rows: Sequence[Mapping[str, Any]], chunk: int = 1000
) -> None:
    """Insert call rows in one transaction per ``chunk``; rows already present are skipped."""
    statement = _insert_ignoring_duplicates(engine.dialect.name)
    for start in range(0, len(rows), chunk):
        async with engine.begin() as conn:
            await conn.execute(statement, list(rows[start : start + chunk]))


async def _known(conn: AsyncConnection, request_id: str, attempt: int | None) -> bool:
    query = select(func.count()).select_from(_CALLS).where(_CALLS.c.request_id == request_id)
    if attempt is not None:
        query = query.where(_CALLS.c.attempt == attempt)
    return bool((await conn.execute(query)).scalar_one())


def _as_score(score: object) -> float:
    """``score`` as a float: any real number, numpy's scalars included (a metric's np.float32).

    :raises InvalidFeedback: a bool, a string, or NaN.
    """
    if isinstance(score, bool) or not isinstance(score, SupportsFloat):
        raise InvalidFeedback(f"feedback score must be a number in [0, 1], got {score!r}")
    value = float(score)
    if math.isnan(value):
        raise InvalidFeedback(f"feedback score must be a number in [0, 1], got {score!r}")
    return value


async def add_feedback(
    engine: AsyncEngine,
    request_id: str,
    score: float,
    *,
    attempt: int | None = None,
    kind: str = "score",
    comment: str | None = None,
) -> None:
    """Store a score for a recorded request.

    :raises InvalidFeedback: ``score`` outside [0, 1] or not a number, or an empty ``kind``.
    :raises UnknownRequest: no call of ``request_id`` (and ``attempt``) is in the ledger.
    """
    score = _as_score(score)
    if not 0.0 <= score <= 1.0:
        raise InvalidFeedback(
            f"feedback score must be in [0, 1] (thumbs up = 1, down = 0), got {score}"
        )
    if not kind:
        raise InvalidFeedback("feedback kind must not be empty")
    async with engine.begin() as conn:
        if not await _known(conn, request_id, attempt):
            raise UnknownRequest(request_id, attempt)
        await conn.execute(
            _FEEDBACK.insert().values(
                request_id=request_id,
                attempt=attempt,
                kind=kind,
                score=float(score),
                comment=comment,
                created_at=datetime.now(UTC),
            )
        )


@dataclass(frozen=True, slots=True)
class TrainingRow:
    """One scored answer: what learning trains P(good answer | features, model) on.

    ``model`` answered the request (the attempt the feedback names, else the last call that
    did not escalate); ``score`` is the mean of the request's feedback scores; ``prompt`` is set
    only when the ledger stores prompts.
    """

    request_id: str
    model: str
    features: dict[str, Any]
    prompt: str | None
    score: float


async def training_rows(engine: AsyncEngine, since: datetime | None = None) -> list[TrainingRow]:
    """Every request with feedback (given at or after ``since``), joined to its answering call."""
    fb = _FEEDBACK
    query = select(fb.c.request_id, fb.c.attempt, func.avg(fb.c.score).label("score")).group_by(
        fb.c.request_id, fb.c.attempt
    )
    if since is not None:
        query = query.where(fb.c.created_at >= since)
    calls = select(
        _CALLS.c.request_id,
        _CALLS.c.attempt,
        _CALLS.c.model,
        _CALLS.c.features,
        _CALLS.c.prompt,
        _CALLS.c.outcome,
    )
    async with engine.connect() as conn:
        scores = (await conn.execute(query)).all()
        ids = sorted({row.request_id for row in scores})
        by_request: dict[str, list[Any]] = {}
        for start in range(0, len(ids), 500):
            part = calls.where(_CALLS.c.request_id.in_(ids[start : start + 500]))
            for found in (await conn.execute(part)).all():
                by_request.setdefault(found.request_id, []).append(found)
    out = []
    for scored in scores:
        call = _answering(by_request.get(scored.request_id, []), scored.attempt)
        if call is not None:
            out.append(
                TrainingRow(
                    scored.request_id, call.model, dict(call.features), call.prompt, scored.score
                )
            )
    return out


def _answering(calls: list[Any], attempt: int | None) -> Any:
    if attempt is not None:
        return next((c for c in calls if c.attempt == attempt), None)
    answered = [c for c in calls if c.outcome != "escalated"] or calls
    return max(answered, key=lambda c: c.attempt, default=None)
