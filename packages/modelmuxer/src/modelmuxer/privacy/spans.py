"""What a PII detector is and what it returns.

A detector is any object with a ``name``, the ``kinds`` it reports and ``detect(text)``; it is
registered through the ``modelmuxer_register_pii_detectors`` hook, built-in ones exactly like
third-party ones (Presidio through :class:`~modelmuxer.privacy.PresidioDetector`, or your own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Final, NamedTuple, Protocol, runtime_checkable

__all__ = ["KIND_PATTERN", "PiiDetector", "PiiSpan", "RegexDetector", "SpanLike"]

#: What a kind is called: lower case, digits and underscores (``email``, ``us_ssn``, ``person``).
KIND_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")


class PiiSpan(NamedTuple):
    """One value found in a text: ``text[start:end]`` is a value of ``kind``.

    ``score`` is the detector's confidence in [0, 1]; spans below the setting
    ``privacy.min_score`` are ignored. A plain ``(start, end, kind)`` or
    ``(start, end, kind, score)`` tuple is accepted wherever a span is.
    """

    start: int
    end: int
    kind: str
    score: float = 1.0


#: What ``detect`` may return for each value: a span or a plain tuple.
SpanLike = PiiSpan | tuple[int, int, str] | tuple[int, int, str, float]


@runtime_checkable
class PiiDetector(Protocol):
    """Finds personal data or secrets in a text.

    ``name`` identifies the detector in errors; ``kinds`` lists every kind it may report (the
    setting ``privacy.kinds`` picks among the kinds of all detectors). ``detect`` must be a pure
    function of the text, fast (it runs on every request, on the event loop) and must not keep,
    log or send the text anywhere.
    """

    name: str

    @property
    def kinds(self) -> Collection[str]:
        """Every kind this detector may report."""
        ...

    def detect(self, text: str) -> Sequence[SpanLike]:
        """The spans of ``text`` holding a value of one of ``kinds``, in any order; they may
        overlap (overlapping spans are merged into one)."""
        ...


class RegexDetector:
    """A detector made of a function ``text -> spans`` (the built-ins are all of this shape)."""

    def __init__(
        self,
        name: str,
        kinds: Collection[str],
        find: Callable[[str], Iterator[PiiSpan]],
        *,
        needs: str | None = None,
    ) -> None:
        self.name = name
        self.kinds = frozenset(kinds)
        self._find = find
        self._needs = needs  # a substring of every match: texts without it are skipped at once

    def detect(self, text: str) -> list[PiiSpan]:
        """The spans of ``text`` this detector finds."""
        if self._needs is not None and self._needs not in text:
            return []
        return list(self._find(text))

    def __repr__(self) -> str:
        return f"RegexDetector({self.name!r}, kinds={sorted(self.kinds)})"
