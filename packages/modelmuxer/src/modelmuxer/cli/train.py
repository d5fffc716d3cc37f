"""``modelmuxer train``: fit a router file from outcome CSVs or from the ledger's feedback.

``--data`` takes RouterBench-format CSVs (per-model scores, costs, answers) and two-model CSVs
(RouteLLM's format; give ``--price MODEL=USD_PER_MTOK`` for each model, they have no costs),
detected from the columns. ``--from-ledger URL`` trains on calls recorded in a ledger that
received feedback (:meth:`CostLedger.record_feedback`).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from modelmuxer.learning.outcomes import OutcomeTable

__all__ = ["add_data_arguments", "add_train", "parse_prices", "read_tables", "run_train"]


def parse_prices(items: Sequence[str] | None) -> dict[str, float]:
    """``MODEL=USD_PER_MTOK`` items as a mapping (spaces around either part are ignored).

    :raises ConfigError: an item without a model name, or whose price is not a finite number
        of 0 or more.
    """
    prices: dict[str, float] = {}
    for item in items or ():
        model, _, value = (part.strip() for part in item.rpartition("="))
        try:
            price = float(value)
        except ValueError:
            price = math.nan
        if not model or not math.isfinite(price) or price < 0.0:
            raise ConfigError(
                f"--price {item!r}: expected MODEL=USD_PER_MILLION_TOKENS, a price of 0 or more"
            )
        prices[model] = price
    return prices


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--data CSV...`` and ``--price MODEL=USD_PER_MTOK``."""
    parser.add_argument(
        "--data", nargs="+", metavar="CSV", required=required, help="outcome CSV files"
    )
    parser.add_argument(
        "--price",
        action="append",
        metavar="MODEL=USD_PER_MTOK",
        help="a model's price where the data has no costs (repeatable)",
    )


def read_tables(paths: Sequence[str], price_items: Sequence[str] | None) -> OutcomeTable:
    """All ``paths`` as one outcome table over the union of their models (``.jsonl``: MT-Bench
    judgments, see :mod:`modelmuxer.learning.mt_bench`)."""
    from modelmuxer.learning.mt_bench import read_mt_bench
    from modelmuxer.learning.outcomes import concat_tables, read_outcomes

    prices = parse_prices(price_items)
    return concat_tables(
        [
            read_mt_bench(p, prices) if p.endswith(".jsonl") else read_outcomes(p, prices)
            for p in paths
        ]
    )


def add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``train`` subcommand."""
    parser = sub.add_parser(
        "train",
        help="train a router file from outcome data or from the ledger's feedback",
        description="Fit the quality predictor (and, when the data has answers, the cascade "
        "judge) and write a router file; load it with MODELMUXER_ROUTER=FILE.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", nargs="+", metavar="CSV", help="outcome CSV files")
    source.add_argument(
        "--from-ledger", metavar="URL", help="a ledger database URL with feedback on calls"
    )
    parser.add_argument(
        "--price",
        action="append",
        metavar="MODEL=USD_PER_MTOK",
        help="a model's price where the data has no costs (repeatable)",
    )
    parser.add_argument("--out", required=True, metavar="ROUTER", help="the router file to write")
    parser.add_argument("--c", type=float, default=0.3, help="inverse L2 strength (default 0.3)")
    parser.add_argument("--no-judge", action="store_true", help="do not train the answer judge")
    parser.add_argument(
        "--seed", type=int, default=0, help="the solvers' shuffling seed (default 0)"
    )
    parser.add_argument("--licence", default="", help="the data's licence, kept as provenance")
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run ``modelmuxer train``."""
    from modelmuxer.learning.artifact import save_router
    from modelmuxer.learning.trainer import TrainingOptions, train_router
    from modelmuxer.learning.training import analyze_prompts

    started = time.perf_counter()
    if args.from_ledger:
        from modelmuxer.cli.db import existing_ledger
        from modelmuxer.learning.feedback import ledger_rows, rows_table
        from modelmuxer.ledger.errors import safe_url

        existing_ledger(args.from_ledger)  # not a new empty ledger at a mistyped path
        table, features = rows_table(ledger_rows(args.from_ledger))
        sources = [safe_url(args.from_ledger)]
    else:
        table = read_tables(args.data, args.price)
        features = analyze_prompts(table.prompts)
        sources = [Path(p).name for p in args.data]
    options = TrainingOptions(c=args.c, judge=not args.no_judge, seed=args.seed)
    provenance = {"sources": sources, "licence": args.licence}
    router = train_router(table, features, options, provenance)
    path = save_router(router, args.out)
    took = time.perf_counter() - started
    judge = "with" if router.judge is not None else "without"
    print(
        f"trained on {len(table)} prompts x {len(table.models)} models ({judge} answer judge) "
        f"in {took:.1f}s -> {path}"
    )
    return 0
