"""Helpers of the telemetry tests: reading a Prometheus scrape back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape"]


@dataclass(frozen=True)
class Scrape:
    """A scrape in the Prometheus text format, queried by sample name and labels."""

    text: str

    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                yield sample.name, dict(sample.labels), float(sample.value)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample, found, value in self.samples()
            if sample == name and all(found.get(k) == v for k, v in labels.items())
        )

    def by(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        """Samples named ``name`` summed by the values of labels ``keys`` (zeros left out)."""
        out: dict[tuple[str, ...], float] = {}
        for sample, found, value in self.samples():
            if sample == name and value:
                key = tuple(found.get(k, "") for k in keys)
                out[key] = out.get(key, 0.0) + value
        return out

    def label_values(self) -> set[str]:
        """Every label value of every sample."""
        return {v for _, labels, _ in self.samples() for v in labels.values()}
