"""Summaries of an evaluation: the figures ``modelmuxer eval`` prints, writes and plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from modelmuxer.errors import ConfigError
from modelmuxer.learning.evaluation import OperatingPoint
from modelmuxer.learning.metrics import aiq, apgr, cpt, hull_value, pgr, upper_hull
from modelmuxer.learning.outcomes import OutcomeTable

__all__ = ["EvalSummary", "plot_curve", "pyplot", "summarise", "write_points"]


@dataclass(frozen=True)
class EvalSummary:
    """Single models, the Zero router and oracle, and the router's figures."""

    models: dict[str, tuple[float, float]]
    strongest: str
    oracle: tuple[float, float]
    zero_aiq: float
    aiq: float
    points: list[dict[str, float]]
    two_model: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "models": {m: {"cost": c, "quality": q} for m, (c, q) in self.models.items()},
            "strongest": self.strongest,
            "oracle": {"cost": self.oracle[0], "quality": self.oracle[1]},
            "zero_router_aiq": self.zero_aiq,
            "aiq": self.aiq,
            "points": self.points,
            **({"two_model": self.two_model} if self.two_model else {}),
        }


def _oracle(table: OutcomeTable) -> tuple[float, float]:
    """The cheapest model with the best score on each row."""
    costs, quality = [], []
    for scores, row_costs in zip(table.scores, table.costs, strict=True):
        best = np.nanmax(scores)
        good = [j for j, s in enumerate(scores) if s == best]
        j = min(good, key=lambda k: row_costs[k])
        costs.append(row_costs[j])
        quality.append(best)
    return float(np.mean(costs)), float(np.mean(quality))


def summarise(table: OutcomeTable, points: Sequence[OperatingPoint]) -> EvalSummary:
    """The evaluation's figures (AIQ over the single models' cost range)."""
    mean_cost = np.nanmean(table.costs, axis=0)
    mean_quality = np.nanmean(table.scores, axis=0)
    models = {
        m: (float(c), float(q))
        for m, c, q in zip(table.models, mean_cost, mean_quality, strict=True)
    }
    strongest = table.models[int(np.argmax(mean_quality))]
    span = (float(mean_cost.min()), float(mean_cost.max()))
    # Any router can fall back to the pool's cheapest model: its point anchors the router's
    # curve at the cheap end (else a sweep that never gets that cheap would be credited with
    # its cheapest point's quality all the way down).
    cheapest = int(np.argmin(mean_cost))
    ref = models[strongest][0]
    rows = [
        {
            "knob": p.knob,
            "accuracy": p.quality,
            "cost": p.cost,
            "cost_pct_of_strongest": 100.0 * p.cost / ref if ref > 0 else float("nan"),
            "strong_share": p.strong_share,
        }
        for p in points
    ]
    costs = [p.cost for p in points]
    qualities = [p.quality for p in points]
    summary = EvalSummary(
        models=models,
        strongest=strongest,
        oracle=_oracle(table),
        zero_aiq=aiq(list(mean_cost), list(mean_quality), span),
        aiq=aiq([*costs, span[0]], [*qualities, float(mean_quality[cheapest])], span),
        points=rows,
    )
    if len(table.models) == 2:
        weak = float(mean_quality[1 - table.models.index(strongest)])
        strong = float(mean_quality[table.models.index(strongest)])
        shares = [p.strong_share for p in points]
        for row, q in zip(rows, qualities, strict=True):
            row["pgr"] = pgr(q, weak, strong)
        summary.two_model.update(
            apgr=apgr(shares, qualities, weak, strong),
            cpt50=cpt(shares, qualities, weak, strong, 0.5),
            cpt80=cpt(shares, qualities, weak, strong, 0.8),
        )
    return summary


def write_points(out: Path, table: OutcomeTable, points: Sequence[OperatingPoint]) -> list[Path]:
    """``out/pointNN.jsonl`` per operating point: sample id, prompt, models tried in order.

    :raises ConfigError: ``out`` cannot be made a directory.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the operating points to {out}: {exc}") from exc
    paths = []
    for n, point in enumerate(points):
        path = out / f"point{n:02d}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for i, tried in enumerate(point.tried):
                line = {
                    "sample_id": table.sample_ids[i],
                    "prompt": table.raw_prompts[i],
                    "tried": [table.models[j] for j in tried],
                }
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def _hull_line(hull: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The hull's chords sampled densely, so they stay straight in linear cost on a log axis."""
    xs: list[float] = []
    for (c0, _), (c1, _) in pairwise(hull):
        xs.extend(float(x) for x in np.linspace(c0, c1, 60))
    xs = xs or [hull[0][0]]
    return xs, [hull_value(hull, x) for x in xs]


def pyplot() -> Any:
    """matplotlib's ``pyplot``, drawing to files only.

    :raises ConfigError: matplotlib is not installed (``pip install 'modelmuxer[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'modelmuxer[plot]'") from None
    return plt


def plot_curve(summary: EvalSummary, title: str, path: Path) -> None:
    """The cost–quality plot: single models, the Zero router's hull, the oracle, the router.

    :raises ConfigError: matplotlib is not installed.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    mc = [c for c, _ in summary.models.values()]
    mq = [q for _, q in summary.models.values()]
    ax.scatter(mc, mq, color="grey", zorder=3, label="single models")
    for name, (c, q) in summary.models.items():
        ax.annotate(
            name.rsplit("/", 1)[-1], (c, q), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.plot(
        *_hull_line(upper_hull(mc, mq)),
        "--",
        color="grey",
        label=f"Zero router (AIQ {summary.zero_aiq:.3f})",
    )
    rc = [p["cost"] for p in summary.points]
    rq = [p["accuracy"] for p in summary.points]
    cheapest = min(summary.models.values())  # the anchor AIQ uses (see summarise)
    hull = upper_hull([*rc, cheapest[0]], [*rq, cheapest[1]])
    ax.plot(rc, rq, "o", color="tab:blue", markersize=3, alpha=0.6)
    ax.plot(*_hull_line(hull), "-", color="tab:blue", label=f"router (AIQ {summary.aiq:.3f})")
    ax.scatter(
        [summary.oracle[0]], [summary.oracle[1]], marker="*", s=120, color="tab:red", label="oracle"
    )
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
