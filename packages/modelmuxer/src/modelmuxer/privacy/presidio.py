"""Microsoft Presidio as a PII detector, without importing it: :class:`PresidioDetector`.

Presidio finds what patterns cannot (names, locations, organisations, with an NLP model).
Build its ``AnalyzerEngine`` yourself and wrap it::

    from presidio_analyzer import AnalyzerEngine
    from modelmuxer import hookimpl
    from modelmuxer.privacy import PresidioDetector

    class PresidioPlugin:
        @hookimpl
        def modelmuxer_register_pii_detectors(self, register):
            register(PresidioDetector(AnalyzerEngine(), entities={"PERSON": "person"}))

Any object with Presidio's ``analyze(text=..., language=..., entities=...)`` returning results
with ``entity_type``, ``start``, ``end`` and ``score`` works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from modelmuxer.privacy.spans import KIND_PATTERN, PiiSpan

__all__ = ["DEFAULT_ENTITIES", "PresidioDetector", "PresidioLikeAnalyzer"]

#: Presidio entity -> ModelMuxer kind, for the entities the built-ins also cover.
DEFAULT_ENTITIES: Mapping[str, str] = {
    "PERSON": "person",
    "LOCATION": "location",
    "NRP": "nrp",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
}


class PresidioLikeAnalyzer(Protocol):
    """What :class:`PresidioDetector` needs of Presidio's ``AnalyzerEngine``."""

    def analyze(
        self, text: str, language: str, entities: list[str] | None = ..., **kwargs: Any
    ) -> list[Any]:
        """The recognised entities of ``text``."""
        ...


class PresidioDetector:
    """A detector that asks a Presidio analyzer.

    ``entities`` maps Presidio entity types to ModelMuxer kinds (default:
    :data:`DEFAULT_ENTITIES`); other entity types are ignored. Presidio's score becomes the
    span's score (compared with ``privacy.min_score``).
    """

    def __init__(
        self,
        analyzer: PresidioLikeAnalyzer,
        *,
        entities: Mapping[str, str] | None = None,
        language: str = "en",
        name: str = "presidio",
    ) -> None:
        mapping = dict(DEFAULT_ENTITIES if entities is None else entities)
        for entity, kind in mapping.items():
            if not KIND_PATTERN.fullmatch(kind):
                raise ValueError(f"entity {entity!r} maps to {kind!r}: kinds are lower-case names")
        self.name = name
        self.kinds = frozenset(mapping.values())
        self._analyzer = analyzer
        self._entities = mapping
        self._language = language

    def detect(self, text: str) -> list[PiiSpan]:
        """The spans Presidio finds, for the mapped entity types."""
        results = self._analyzer.analyze(
            text=text, language=self._language, entities=list(self._entities)
        )
        spans: list[PiiSpan] = []
        for result in results:
            kind = self._entities.get(getattr(result, "entity_type", ""))
            if kind is not None:
                spans.append(PiiSpan(result.start, result.end, kind, float(result.score)))
        return spans

    def __repr__(self) -> str:
        return f"PresidioDetector(name={self.name!r}, kinds={sorted(self.kinds)})"
