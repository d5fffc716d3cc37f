"""Metrics of routers on cost–quality curves: the hull, AIQ (RouterBench), PGR / APGR / CPT
(RouteLLM).

Pure functions over plain sequences of floats; no numpy needed.

- :func:`upper_hull`: the non-decreasing upper convex hull of (cost, quality) points: every
  quality a router can reach at a cost by mixing its operating points (RouterBench's
  "non-decreasing convex hull"; the hull of the single models is the *Zero router*).
- :func:`aiq`: RouterBench's Average Improvement in Quality: the area under the hull over a cost
  range, divided by the range's width (so it is a quality, comparable across routers when the
  range is shared: use the single models' cheapest and dearest average cost).
- :func:`pgr`, :func:`apgr`, :func:`cpt`: RouteLLM's Performance Gap Recovered at a share of
  calls to the strong model, its average over shares 0..100%, and the Call-Performance
  Threshold (the smallest share of strong calls that recovers a given fraction of the gap).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["aiq", "apgr", "cpt", "hull_value", "pgr", "upper_hull"]

Point = tuple[float, float]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def upper_hull(costs: Sequence[float], qualities: Sequence[float]) -> list[Point]:
    """The non-decreasing upper convex hull of the points, sorted by cost.

    Points that cost more than another without being better are dropped (non-decreasing); the
    rest form the concave upper envelope (any mix of two operating points is reachable by
    randomising between them, so the chords count).
    """
    if len(costs) != len(qualities):
        raise ValueError("costs and qualities must have the same length")
    if not costs:
        raise ValueError("at least one point is needed")
    points = sorted(zip(costs, qualities, strict=True), key=lambda p: (p[0], -p[1]))
    rising: list[Point] = []
    for p in points:
        if not rising or p[1] > rising[-1][1]:
            if rising and p[0] == rising[-1][0]:
                rising[-1] = p
            else:
                rising.append(p)
    hull: list[Point] = []
    for p in rising:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0.0:
            hull.pop()
        hull.append(p)
    return hull


def hull_value(hull: Sequence[Point], cost: float) -> float:
    """The hull's quality at ``cost``: linear between its points, flat beyond its ends."""
    if cost <= hull[0][0]:
        return hull[0][1]
    for (c0, q0), (c1, q1) in itertools.pairwise(hull):
        if cost <= c1:
            return q0 + (q1 - q0) * (cost - c0) / (c1 - c0)
    return hull[-1][1]


def aiq(
    costs: Sequence[float],
    qualities: Sequence[float],
    cost_range: tuple[float, float] | None = None,
) -> float:
    """RouterBench's AIQ: the mean of the hull's quality over ``cost_range``.

    ``cost_range`` defaults to the points' own cheapest and dearest cost. The hull is flat
    beyond its ends (below its cheapest point it counts that point's quality: pass the pool's
    range and a sweep that reaches the cheapest model so this never flatters a router).
    """
    hull = upper_hull(costs, qualities)
    lo, hi = cost_range if cost_range is not None else (hull[0][0], max(costs))
    if hi < lo:
        raise ValueError(f"cost_range {cost_range} is reversed")
    if hi == lo:
        return hull_value(hull, lo)
    knots = [lo, *(c for c, _ in hull if lo < c < hi), hi]
    area = 0.0
    for a, b in itertools.pairwise(knots):
        area += (hull_value(hull, a) + hull_value(hull, b)) / 2.0 * (b - a)
    return area / (hi - lo)


def pgr(quality: float, weak: float, strong: float) -> float:
    """Performance gap recovered: ``(quality - weak) / (strong - weak)``."""
    if strong == weak:
        raise ValueError("the strong and weak models perform equally: PGR is undefined")
    return (quality - weak) / (strong - weak)


def _pgr_curve(
    shares: Sequence[float], qualities: Sequence[float], weak: float, strong: float
) -> list[Point]:
    """(share of strong calls, PGR) points with the two single models as the ends."""
    points = [(0.0, 0.0), (1.0, 1.0)]
    points += [(s, pgr(q, weak, strong)) for s, q in zip(shares, qualities, strict=True)]
    return sorted(points)


def _interpolate(points: Sequence[Point], x: float) -> float:
    """The piecewise-linear curve through ``points`` (sorted by x; equal xs: their best) at x."""
    best: dict[float, float] = {}
    for px, py in points:
        best[px] = max(py, best.get(px, py))
    xs = sorted(best)
    if x <= xs[0]:
        return best[xs[0]]
    for x0, x1 in itertools.pairwise(xs):
        if x <= x1:
            return best[x0] + (best[x1] - best[x0]) * (x - x0) / (x1 - x0)
    return best[xs[-1]]


def apgr(shares: Sequence[float], qualities: Sequence[float], weak: float, strong: float) -> float:
    """RouteLLM's APGR: the PGR averaged over the share of strong calls from 0 to 1.

    ``shares[i]`` is the fraction of calls operating point ``i`` sends to the strong model and
    ``qualities[i]`` its quality; ``weak`` / ``strong`` are the single models' qualities. The
    curve runs through the operating points, with the weak model at share 0 and the strong one
    at share 1, linear in between; APGR is its area (trapezoids).
    """
    curve = _pgr_curve(shares, qualities, weak, strong)
    xs = sorted({x for x, _ in curve})
    area = 0.0
    for a, b in itertools.pairwise(xs):
        area += (_interpolate(curve, a) + _interpolate(curve, b)) / 2.0 * (b - a)
    return area


def cpt(
    shares: Sequence[float],
    qualities: Sequence[float],
    weak: float,
    strong: float,
    target: float,
) -> float:
    """RouteLLM's CPT(target): the smallest share of strong calls whose PGR reaches ``target``.

    Along the same curve as :func:`apgr` (linear between operating points); 1.0 when only the
    strong model reaches it.
    """
    curve = _pgr_curve(shares, qualities, weak, strong)
    xs = sorted({x for x, _ in curve})
    previous = xs[0]
    if _interpolate(curve, previous) >= target:
        return previous
    for x in xs[1:]:
        y0, y1 = _interpolate(curve, previous), _interpolate(curve, x)
        if y1 >= target:
            return previous + (x - previous) * (target - y0) / (y1 - y0)
        previous = x
    return 1.0
