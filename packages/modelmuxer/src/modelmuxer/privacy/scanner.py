"""The detectors of one muxer, run together: :class:`PiiScanner`."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

import pluggy

from modelmuxer.errors import ConfigError, PluginError
from modelmuxer.privacy.spans import KIND_PATTERN, PiiDetector, PiiSpan

__all__ = ["PiiScanner"]


class PiiScanner:
    """Runs every detector that reports a selected kind and merges what they find.

    ``kinds`` selects kinds (``None``: every kind of every detector); spans scored below
    ``min_score`` are ignored. Overlapping spans are merged into one (the union, under the kind
    of the best-scored, then longest, span): redacting too much is safer than leaving the end
    of a value in clear. A detector that raises or returns something that is not a span is a
    :class:`~modelmuxer.errors.PluginError` naming it (never quoting the text).
    """

    def __init__(
        self,
        detectors: Sequence[PiiDetector],
        *,
        kinds: Collection[str] | None = None,
        min_score: float = 0.5,
    ) -> None:
        names: set[str] = set()
        for detector in detectors:
            _check_detector(detector)
            if detector.name in names:
                raise PluginError(f"two plugins register a PII detector named {detector.name!r}")
            names.add(detector.name)
        known = frozenset(k for d in detectors for k in d.kinds)
        if kinds is not None:
            unknown = sorted(set(kinds) - known)
            if unknown:
                raise ConfigError(
                    f"privacy.kinds: no registered detector reports {', '.join(unknown)}; "
                    f"known kinds: {', '.join(sorted(known)) or 'none'} (register a detector "
                    "through modelmuxer_register_pii_detectors for other kinds)"
                )
        #: the kinds this scanner reports
        self.kinds: frozenset[str] = known if kinds is None else frozenset(kinds)
        self._detectors = tuple(d for d in detectors if self.kinds.intersection(d.kinds))
        self._min_score = min_score

    @classmethod
    def from_plugins(
        cls,
        pm: pluggy.PluginManager,
        *,
        kinds: Collection[str] | None = None,
        min_score: float = 0.5,
    ) -> PiiScanner:
        """The scanner over the detectors that ``modelmuxer_register_pii_detectors`` gives."""
        found: list[PiiDetector] = []
        pm.hook.modelmuxer_register_pii_detectors(register=found.append)
        return cls(found, kinds=kinds, min_score=min_score)

    @property
    def detectors(self) -> tuple[PiiDetector, ...]:
        """The detectors that run (those reporting at least one selected kind)."""
        return self._detectors

    def scan(self, text: str) -> list[PiiSpan]:
        """The values in ``text``: non-overlapping spans, in order."""
        if not text:
            return []
        found: list[PiiSpan] = []
        for detector in self._detectors:
            try:
                spans = detector.detect(text)
            except Exception as exc:
                # the exception's message may quote the text: only its type is kept
                raise PluginError(
                    f"PII detector {detector.name!r} raised {type(exc).__name__}"
                ) from None
            found.extend(self._accepted(detector, spans, len(text)))
        return _merged(found)

    def _accepted(self, detector: PiiDetector, spans: object, length: int) -> Iterable[PiiSpan]:
        if not isinstance(spans, Iterable) or isinstance(spans, str | bytes):
            raise PluginError(f"PII detector {detector.name!r}: detect() must return a list")
        for raw in spans:
            span = _as_span(detector, raw, length)
            if span.kind in self.kinds and span.score >= self._min_score:
                yield span


def _check_detector(detector: object) -> None:
    if not isinstance(detector, PiiDetector):
        raise PluginError(
            f"{type(detector).__name__} is not a PII detector: it needs name, kinds and "
            "detect(text)"
        )
    if not isinstance(detector.name, str) or not detector.name:
        raise PluginError(f"PII detector {detector!r}: name must be a non-empty string")
    kinds = detector.kinds
    if isinstance(kinds, str) or not isinstance(kinds, Collection) or not kinds:
        raise PluginError(f"PII detector {detector.name!r}: kinds must be a collection of names")
    for kind in kinds:
        if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
            raise PluginError(
                f"PII detector {detector.name!r}: kind {kind!r} is not a lower-case name "
                "(letters, digits, underscores)"
            )


def _as_span(detector: PiiDetector, raw: object, length: int) -> PiiSpan:
    """``raw`` as a checked span; :class:`PluginError` when it is not one."""
    where = f"PII detector {detector.name!r}"
    if not isinstance(raw, tuple) or len(raw) not in (3, 4):
        raise PluginError(f"{where}: a span is (start, end, kind) or (start, end, kind, score)")
    start, end, kind = raw[0], raw[1], raw[2]
    score = raw[3] if len(raw) == 4 else 1.0
    if type(start) is not int or type(end) is not int or not 0 <= start < end <= length:
        raise PluginError(
            f"{where}: span bounds must be integers with 0 <= start < end <= len(text)"
        )
    if kind not in detector.kinds:
        raise PluginError(f"{where}: reported kind {kind!r}, which is not among its kinds")
    if (
        isinstance(score, bool)
        or not isinstance(score, int | float)
        or math.isnan(score)
        or not 0.0 <= score <= 1.0
    ):
        raise PluginError(f"{where}: a span's score must be a number in [0, 1]")
    return PiiSpan(start, end, kind, float(score))


def _merged(spans: list[PiiSpan]) -> list[PiiSpan]:
    """Overlapping spans as one: the union, under the kind of the best (score, length) span."""
    if len(spans) < 2:
        return spans
    spans.sort()
    merged: list[PiiSpan] = []
    start, end, best = spans[0].start, spans[0].end, spans[0]
    for span in spans[1:]:
        if span.start < end:
            end = max(end, span.end)
            if (span.score, span.end - span.start) > (best.score, best.end - best.start):
                best = span
            continue
        merged.append(PiiSpan(start, end, best.kind, best.score))
        start, end, best = span.start, span.end, span
    merged.append(PiiSpan(start, end, best.kind, best.score))
    return merged
