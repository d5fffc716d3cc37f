"""Routing-outcome tables: which model answered which prompt how well, at what cost.

Two CSV layouts are read, detected from the columns:

- **RouterBench**: ``sample_id``, ``prompt`` (a stringified Python list of strings, or plain
  text), ``eval_name``, one score column per model (0..1; rows with an empty score are dropped),
  ``<model>|model_response`` and ``<model>|total_cost`` (USD).
- **two-model** (RouteLLM's evaluation files): ``prompt``, then one boolean (or 0..1) column per
  model, optionally ``<model>_response``, ``sample_id``, ``eval_name`` and an index column; any
  other column is taken for a model. No costs: give prices (USD per million tokens) and the
  cost of a call is estimated from the prompt's and the answer's token counts.

``eval_name`` and ``sample_id`` are labels for evaluation and grouping, never features. A cell
that is not a score (or, in RouterBench files, not a cost) is a :class:`ConfigError` naming the
file, row and column: nothing is silently read as unknown.
"""

from __future__ import annotations

import ast
import csv
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis import estimate_tokens
from modelmuxer.errors import ConfigError

__all__ = ["OutcomeTable", "concat_tables", "prompt_text", "read_outcomes"]

FloatArray = npt.NDArray[np.float64]

_TRUE = {"true": 1.0, "1": 1.0, "1.0": 1.0, "false": 0.0, "0": 0.0, "0.0": 0.0}
#: A default answer length for cost estimates when the data holds no answers.
_DEFAULT_ANSWER_TOKENS = 1


@dataclass(frozen=True)
class OutcomeTable:
    """Outcomes of ``models`` on ``prompts``: ``scores[i, j]`` in [0, 1], NaN when unknown.

    ``costs[i, j]`` is the call's cost in USD (NaN when unknown); ``answers[i][j]`` the model's
    answer (``None`` when the data has none). ``raw_prompts`` are the CSV's prompt fields as
    written (what the evaluation output echoes); ``prompts`` the text a router sees.
    ``kind`` is ``"routerbench"`` or ``"two-model"``.
    """

    kind: str
    models: tuple[str, ...]
    prompts: tuple[str, ...]
    raw_prompts: tuple[str, ...]
    sample_ids: tuple[str, ...]
    groups: tuple[str, ...]
    scores: FloatArray
    costs: FloatArray
    answers: tuple[tuple[str | None, ...], ...]

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, rows: Sequence[int] | npt.NDArray[np.int_]) -> OutcomeTable:
        """The table restricted to ``rows`` (in that order)."""
        idx = [int(i) for i in rows]
        return OutcomeTable(
            kind=self.kind,
            models=self.models,
            prompts=tuple(self.prompts[i] for i in idx),
            raw_prompts=tuple(self.raw_prompts[i] for i in idx),
            sample_ids=tuple(self.sample_ids[i] for i in idx),
            groups=tuple(self.groups[i] for i in idx),
            scores=self.scores[idx],
            costs=self.costs[idx],
            answers=tuple(self.answers[i] for i in idx),
        )


def prompt_text(raw: str) -> str:
    """The text a router sees: a stringified list of strings is joined with newlines."""
    stripped = raw.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return raw
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n".join(value)
    return raw


def _score(text: str | None, where: str) -> float:
    """A score cell: NaN when empty or ``nan`` (unknown), else a number in [0, 1].

    :raises ConfigError: the cell is not a score (``where`` names the file, row and column).
    """
    value = (text or "").strip().lower()
    if not value or value == "nan":
        return math.nan
    if value in _TRUE:
        return _TRUE[value]
    try:
        score = float(value)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not a score (a number in [0, 1], or true / false)"
        ) from None
    if not 0.0 <= score <= 1.0:
        raise ConfigError(f"{where}: score {score} is outside [0, 1]; rescale the scores to 0..1")
    return score


def _cost(text: str | None, where: str) -> float:
    """A cost cell in USD: a finite number, 0 or more.

    :raises ConfigError: the cell is empty, not a number or negative.
    """
    try:
        cost = float((text or "").strip())
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a cost (USD, a plain number)") from None
    if not math.isfinite(cost):
        raise ConfigError(f"{where}: {text!r} is not a cost (USD, a plain number)")
    if cost < 0.0:
        raise ConfigError(f"{where}: cost {cost} is negative")
    return cost


def _where(path: Path, row: int, column: str) -> str:
    """A cell's place for error messages: the data row counted from 1 after the header."""
    return f"{path}, data row {row + 1}, column {column!r}"


def _scored_rows(
    path: Path, rows: list[dict[str, str]], models: Sequence[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[list[float]]]:
    """The rows (numbered) with a score for every model, and those scores; rows with an empty
    or ``nan`` score are dropped."""
    numbered: list[tuple[int, dict[str, str]]] = []
    scores: list[list[float]] = []
    for i, row in enumerate(rows):
        values = [_score(row.get(m), _where(path, i, m)) for m in models]
        if not any(math.isnan(v) for v in values):
            numbered.append((i, row))
            scores.append(values)
    return numbered, scores


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, restval="")  # a short row's missing cells
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except OSError as exc:
        raise ConfigError(f"cannot read outcome data {path}: {exc}") from exc


def _sample_ids(path: Path, numbered: list[tuple[int, dict[str, str]]]) -> tuple[str, ...]:
    """The CSV's ``sample_id``, else ``<file stem>/<data row number>`` (counted from 0, empty
    rows included, so it names the row in the file)."""
    return tuple(r.get("sample_id") or f"{path.stem}/{i}" for i, r in numbered)


def _routerbench(path: Path, columns: list[str], rows: list[dict[str, str]]) -> OutcomeTable:
    models = tuple(c.removesuffix("|total_cost") for c in columns if c.endswith("|total_cost"))
    missing = [m for m in models if m not in columns]
    if missing:
        raise ConfigError(f"{path}: no score column for {missing}")
    numbered, scores = _scored_rows(path, rows, models)
    kept = [r for _, r in numbered]
    costs = [
        [_cost(r.get(f"{m}|total_cost"), _where(path, i, f"{m}|total_cost")) for m in models]
        for i, r in numbered
    ]
    answers = tuple(tuple(r.get(f"{m}|model_response") for m in models) for r in kept)
    raw = tuple(r["prompt"] for r in kept)
    return OutcomeTable(
        kind="routerbench",
        models=models,
        prompts=tuple(prompt_text(p) for p in raw),
        raw_prompts=raw,
        sample_ids=_sample_ids(path, numbered),
        groups=tuple(r.get("eval_name") or path.stem for r in kept),
        scores=np.array(scores, dtype=np.float64).reshape(len(kept), len(models)),
        costs=np.array(costs, dtype=np.float64).reshape(len(kept), len(models)),
        answers=answers,
    )


#: Columns of a two-model file that are labels, not models: the row's id and task, and an
#: index column (unnamed, or ``Unnamed: 0`` as pandas names it when read back).
_LABELS = frozenset({"", "sample_id", "eval_name"})
_TWO_MODEL_COLUMNS = (
    "a two-model file holds prompt, one score column per model, optional <model>_response "
    "columns and the labels sample_id / eval_name: remove any other column"
)


def _is_label(column: str) -> bool:
    return column in _LABELS or column.startswith("Unnamed: ")


def _two_model(
    path: Path, columns: list[str], rows: list[dict[str, str]], prices: Mapping[str, float]
) -> OutcomeTable:
    models = tuple(c for c in columns if not c.endswith("_response") and not _is_label(c))
    if len(models) < 2:
        raise ConfigError(f"{path}: expected a prompt column and two or more model columns")
    try:
        numbered, scores = _scored_rows(path, rows, models)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {_TWO_MODEL_COLUMNS}") from None
    unpriced = [m for m in models if m not in prices]
    if unpriced:
        raise ConfigError(
            f"{path} has no costs: give each model's price with --price MODEL=USD_PER_MTOK "
            f"(missing: {', '.join(unpriced)})"
        )
    kept = [r for _, r in numbered]
    answers = tuple(tuple(r.get(f"{m}_response") for m in models) for r in kept)
    costs = np.empty((len(kept), len(models)), dtype=np.float64)
    for i, row in enumerate(kept):
        prompt_tokens = estimate_tokens(row["prompt"])
        for j, m in enumerate(models):
            answer = answers[i][j]
            out = estimate_tokens(answer) if answer else _DEFAULT_ANSWER_TOKENS
            costs[i, j] = (prompt_tokens + out) * prices[m] / 1e6
    raw = tuple(r["prompt"] for r in kept)
    return OutcomeTable(
        kind="two-model",
        models=models,
        prompts=raw,
        raw_prompts=raw,
        sample_ids=_sample_ids(path, numbered),
        groups=tuple(path.stem for _ in kept),
        scores=np.array(scores, dtype=np.float64).reshape(len(kept), len(models)),
        costs=costs,
        answers=answers,
    )


def read_outcomes(path: str | Path, prices: Mapping[str, float] | None = None) -> OutcomeTable:
    """One outcome CSV, its layout detected from the columns (see the module docstring).

    :raises ConfigError: unreadable or empty file, unknown layout, a cell that is not a score or
        cost, no row with a score for every model, or a two-model file without prices.
    """
    path = Path(path)
    columns, rows = _read_rows(path)
    if not columns:
        raise ConfigError(f"{path} is empty: expected a header row and outcome rows")
    if "prompt" not in columns:
        raise ConfigError(f"{path}: not an outcome table (no 'prompt' column)")
    if any(c.endswith("|total_cost") for c in columns):
        table = _routerbench(path, columns, rows)
    else:
        table = _two_model(path, [c for c in columns if c != "prompt"], rows, prices or {})
    if not len(table):
        raise ConfigError(
            f"{path}: no rows with a score for every model ({len(rows)} rows read; a row with "
            "an empty score is dropped)"
        )
    return table


def _widen(table: OutcomeTable, models: tuple[str, ...]) -> OutcomeTable:
    """``table`` over ``models`` (a superset): unknown scores and costs are NaN."""
    if table.models == models:
        return table
    cols = [table.models.index(m) if m in table.models else -1 for m in models]
    n = len(table)
    scores = np.full((n, len(models)), np.nan)
    costs = np.full((n, len(models)), np.nan)
    for j, c in enumerate(cols):
        if c >= 0:
            scores[:, j] = table.scores[:, c]
            costs[:, j] = table.costs[:, c]
    return OutcomeTable(
        kind=table.kind,
        models=models,
        prompts=table.prompts,
        raw_prompts=table.raw_prompts,
        sample_ids=table.sample_ids,
        groups=table.groups,
        scores=scores,
        costs=costs,
        answers=tuple(tuple(row[c] if c >= 0 else None for c in cols) for row in table.answers),
    )


def concat_tables(tables: Sequence[OutcomeTable]) -> OutcomeTable:
    """Tables stacked over the union of their models (in order of first appearance); a model
    a table does not have gets NaN scores and costs there (training skips unknown cells)."""
    if not tables:
        raise ConfigError("no outcome data given")
    models = tuple(dict.fromkeys(m for t in tables for m in t.models))
    wide = [_widen(t, models) for t in tables]
    kinds = {t.kind for t in tables}
    return OutcomeTable(
        kind=kinds.pop() if len(kinds) == 1 else "mixed",
        models=models,
        prompts=tuple(p for t in wide for p in t.prompts),
        raw_prompts=tuple(p for t in wide for p in t.raw_prompts),
        sample_ids=tuple(s for t in wide for s in t.sample_ids),
        groups=tuple(g for t in wide for g in t.groups),
        scores=np.concatenate([t.scores for t in wide]),
        costs=np.concatenate([t.costs for t in wide]),
        answers=tuple(a for t in wide for a in t.answers),
    )
