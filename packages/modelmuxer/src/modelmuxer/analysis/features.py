"""The features of a query, computed once per request and shared by every strategy."""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["QueryFeatures", "TaskType"]

TaskType = Literal[
    "chat",
    "code",
    "math",
    "reasoning",
    "extraction",
    "summarization",
    "translation",
    "creative",
    "classification",
    "qa",
    "tool_use",
]


class QueryFeatures(NamedTuple):
    """What query analysis found.

    Scores are in [0, 1]. ``prompt_tokens`` is an estimate of the whole prompt (every message,
    tool schemas included); ``expected_output_tokens`` a guess at the answer's length, capped by
    ``max_tokens``. ``complexity`` summarises how hard the query looks: 0 is small talk, 1 is a
    long multi-step reasoning, maths or coding task. ``sampled`` is true when the prompt was too
    long to read whole and only a bounded sample was analysed.

    A named tuple: immutable, hashable, and cheap to build on the hot path (a frozen dataclass
    costs several microseconds per instance); use ``features._replace(...)`` to derive variants.
    """

    prompt_tokens: int
    expected_output_tokens: int
    task_type: TaskType
    complexity: float
    code: float
    math: float
    reasoning: float
    needs_tools: bool
    needs_json: bool
    has_images: bool
    language: str
    conversation_depth: int
    sampled: bool = False

    def as_dict(self) -> dict[str, object]:
        """The features as a plain dict (for decisions, logs and training)."""
        return self._asdict()
