"""Summaries shared by the benchmarks: percentiles of samples, and the median and spread of a
figure over repeated runs.

A *repeat* is one whole measurement of a figure (its own warm-up, its own calls). The suite runs
each headline figure ``R`` times, interleaved with the others, and reports the median repeat and
the min-max range: the range is the honest error bar on a shared 2-core machine, where a
figure's p50 within one repeat is precise but drifts between repeats.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Spread", "merge_repeats", "percentiles", "repeat_interleaved", "spread"]

Spread = dict[str, float]


def percentiles(samples: Sequence[float], scale: float = 1000.0) -> dict[str, float]:
    """p50 and p99 of ``samples`` divided by ``scale`` (ns to µs by default), and their count."""
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "p50_us": ordered[n // 2] / scale,
        "p99_us": ordered[min(n - 1, int(n * 0.99))] / scale,
        "n": n,
    }


def spread(values: Sequence[float]) -> Spread:
    """Median, min, max and quartiles of one figure's repeats."""
    ordered = sorted(values)
    n = len(ordered)
    if n >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "repeats": n,
    }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def merge_repeats(runs: Sequence[Any]) -> tuple[Any, Any]:
    """The median of every numeric leaf over ``runs`` (results of the same shape), and the
    matching tree of ``[min, max]`` ranges.

    Non-numeric leaves (names, flags) come from the first run; a leaf missing from some run (a
    skipped database) is summarised over the runs that have it. Lists of equal length are
    merged element by element (rows of a table); a list whose length differs between runs is
    taken from the first run.
    """
    first = runs[0]
    if isinstance(first, dict):
        medians: dict[str, Any] = {}
        ranges: dict[str, Any] = {}
        for key, value in first.items():
            present = [run[key] for run in runs if isinstance(run, dict) and key in run]
            medians[key], ranges[key] = merge_repeats(present) if present else (value, None)
        return medians, ranges
    if isinstance(first, list):
        if all(isinstance(run, list) and len(run) == len(first) for run in runs) and first:
            merged = [merge_repeats([run[i] for run in runs]) for i in range(len(first))]
            return [m for m, _ in merged], [r for _, r in merged]
        return first, None
    if _is_number(first) and all(_is_number(run) for run in runs):
        values = [float(run) for run in runs]
        if len(set(values)) == 1:  # counts, settings: the same in every repeat
            return first, None
        return statistics.median(values), [min(values), max(values)]
    return first, None


def repeat_interleaved(
    benches: Sequence[tuple[str, Callable[[], Any]]], repeats: int
) -> dict[str, list[Any]]:
    """Run each of ``benches`` ``repeats`` times, round-robin (a slow spell of the machine hits
    every figure alike rather than all repeats of one), rotating the order each round."""
    results: dict[str, list[Any]] = {name: [] for name, _ in benches}
    for round_ in range(repeats):
        shift = round_ % max(len(benches), 1)
        for name, bench in [*benches[shift:], *benches[:shift]]:
            results[name].append(bench())
    return results
