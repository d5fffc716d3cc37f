"""``modelmuxer eval``: replay outcome data through a strategy over a sweep of its knob.

Writes ``DIR/pointNN.jsonl`` per operating point (sample id, prompt, models tried in order,
named as in the CSV), prints accuracy, cost and cost as % of the strongest model per point,
AIQ (and PGR / APGR / CPT on two-model data), and optionally plots the cost–quality curve.
With ``--cv K`` the router is trained K times, each fold estimated by a router that never saw
its prompts; with ``--router`` a trained router file is evaluated as is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelmuxer.cli.table import render_table
from modelmuxer.cli.train import add_data_arguments, read_tables
from modelmuxer.errors import ConfigError

__all__ = ["add_eval", "run_eval"]


def add_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``eval`` subcommand."""
    parser = sub.add_parser(
        "eval",
        help="evaluate a router on outcome data: operating points, AIQ, APGR, plot",
        description="Replay outcome CSVs through a strategy at N settings of its knob "
        "(hybrid and utility: cost_weight; cost_optimized and cascade: quality_target).",
    )
    add_data_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--router", metavar="ROUTER", help="a router file, or 'default'")
    source.add_argument(
        "--cv", type=int, metavar="K", help="cross-validate: train K routers on grouped folds"
    )
    parser.add_argument("--strategy", default="hybrid", metavar="S", help="default: hybrid")
    parser.add_argument("--sweep", type=int, default=10, metavar="N", help="operating points")
    parser.add_argument("--out", required=True, metavar="DIR", help="where pointNN.jsonl go")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the cost–quality curve")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--c", type=float, default=0.3, help="--cv: inverse L2 strength (default 0.3)"
    )
    parser.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Run ``modelmuxer eval``."""
    from modelmuxer.learning import utility
    from modelmuxer.learning.artifact import load_router
    from modelmuxer.learning.evaluation import knob_values, replay
    from modelmuxer.learning.report import plot_curve, pyplot, summarise, write_points
    from modelmuxer.learning.trainer import (
        TrainingOptions,
        cross_validated_estimates,
        estimate_rows,
    )
    from modelmuxer.learning.training import analyze_prompts
    from modelmuxer.plugins import StrategyRegistry, make_plugin_manager

    strategies = StrategyRegistry(make_plugin_manager([utility], load_entrypoints=False))
    strategy = strategies.get(args.strategy)
    knob_values(args.strategy, args.sweep)  # a bad --sweep fails before any training
    if args.plot:
        pyplot()  # without matplotlib, fail before any training
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out}: exists and is not a directory")
    table = read_tables(args.data, args.price)
    features = analyze_prompts(table.prompts)
    if args.cv is not None:
        estimates = cross_validated_estimates(table, features, args.cv, TrainingOptions(c=args.c))
    else:
        estimates = estimate_rows(load_router(args.router), table, features)
    knobs = knob_values(args.strategy, args.sweep, estimates)
    points = replay(table, features, estimates, strategy, knobs)
    write_points(Path(args.out), table, points)
    summary = summarise(table, points)
    if args.plot:
        title = f"{args.strategy} on {len(table)} rows" + (
            f" ({args.cv}-fold CV)" if args.cv else ""
        )
        plot_curve(summary, title, Path(args.plot))
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        _print(summary.as_dict(), args.strategy)
    return 0


def _print(summary: dict[str, object], strategy: str) -> None:
    points = summary["points"]
    assert isinstance(points, list)
    two = "two_model" in summary
    header = ["point", "knob", "accuracy", "cost $", "% of strongest"] + (["PGR"] if two else [])
    rows = [
        [
            f"point{n:02d}",
            f"{p['knob']:.3f}",
            f"{p['accuracy']:.4f}",
            f"{p['cost']:.6f}",
            f"{p['cost_pct_of_strongest']:.1f}%",
            *([f"{p['pgr']:.3f}"] if two else []),
        ]
        for n, p in enumerate(points)
    ]
    print(render_table(header, rows))
    print(f"AIQ ({strategy}): {summary['aiq']:.4f}   Zero router: {summary['zero_router_aiq']:.4f}")
    if two:
        tm = summary["two_model"]
        assert isinstance(tm, dict)
        print(
            f"APGR {tm['apgr']:.4f}   CPT(50%) {100 * tm['cpt50']:.1f}%   "
            f"CPT(80%) {100 * tm['cpt80']:.1f}%"
        )
    sys.stdout.flush()
