"""Precision and recall of a :class:`~modelmuxer.privacy.PiiScanner` on a labelled corpus.

A labelled value counts as found when one detected span of the same kind covers it whole (a
span that covers only part of a card number leaves the rest in clear). A detected span counts
as right when it overlaps a labelled value of its kind. ``leaked`` counts labelled values
that no span of any kind covers whole: what would reach a provider in clear.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from modelmuxer.privacy.corpus import LabelledText
from modelmuxer.privacy.scanner import PiiScanner

__all__ = ["STRUCTURED_KINDS", "KindScore", "evaluate"]

#: The kinds with a fixed format and a validator, held to recall >= 0.99 on the corpus;
#: ``secret`` (a name and a value that is not a word) is a heuristic.
STRUCTURED_KINDS: Final = frozenset(
    {"email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "api_key", "jwt",
     "private_key"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KindScore:
    """How one kind fared: labelled values, detected spans, hits and leaks."""

    kind: str
    labelled: int
    found: int  # labelled values covered by a span of their kind
    detected: int  # spans reported with this kind
    correct: int  # of those, the ones overlapping a labelled value of this kind
    leaked: int  # labelled values not covered by any span

    @property
    def recall(self) -> float:
        """found / labelled (1.0 when nothing is labelled)."""
        return self.found / self.labelled if self.labelled else 1.0

    @property
    def precision(self) -> float:
        """correct / detected (1.0 when nothing is detected)."""
        return self.correct / self.detected if self.detected else 1.0


def evaluate(scanner: PiiScanner, corpus: Iterable[LabelledText]) -> dict[str, KindScore]:
    """Kind -> score, for every kind labelled in ``corpus`` or reported by ``scanner``."""
    labelled: Counter[str] = Counter()
    found: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    for item in corpus:
        spans = scanner.scan(item.text)
        for gold in item.spans:
            labelled[gold.kind] += 1
            covering = [s for s in spans if s.start <= gold.start and gold.end <= s.end]
            if any(s.kind == gold.kind for s in covering):
                found[gold.kind] += 1
            if not covering:
                leaked[gold.kind] += 1
        for span in spans:
            detected[span.kind] += 1
            if any(
                g.kind == span.kind and g.start < span.end and span.start < g.end
                for g in item.spans
            ):
                correct[span.kind] += 1
    kinds = sorted(set(labelled) | set(detected))
    return {
        k: KindScore(k, labelled[k], found[k], detected[k], correct[k], leaked[k]) for k in kinds
    }
