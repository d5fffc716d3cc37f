"""``modelmuxer report --plot``: spend over time by model, and the savings (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from modelmuxer.errors import ConfigError
from modelmuxer.ledger.reports import SpendReport

__all__ = ["plot_report"]


def plot_report(report: SpendReport, path: Path) -> None:
    """Draw daily spend stacked by model, and the daily savings against the strongest model.

    :raises ConfigError: matplotlib is not installed (``pip install 'modelmuxer[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'modelmuxer[plot]'") from None
    days = sorted({d.day for d in report.daily})
    models = sorted({d.model for d in report.daily})
    cost = {(d.day, d.model): float(d.cost_usd) for d in report.daily}
    saved = {day: 0.0 for day in days}
    for d in report.daily:
        saved[d.day] += float(d.saved_vs_strongest_usd)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    base = [0.0] * len(days)
    for model in models:
        heights = [cost.get((day, model), 0.0) for day in days]
        top.bar(days, heights, bottom=base, label=model)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    top.set_ylabel("spend (USD)")
    top.set_title("Spend per day by model")
    if models:
        top.legend(fontsize="small")
    bottom.bar(days, [saved[d] for d in days], color="tab:green")
    bottom.set_ylabel("saved (USD)")
    bottom.set_title("Saved per day against always the strongest model")
    bottom.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise ConfigError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
