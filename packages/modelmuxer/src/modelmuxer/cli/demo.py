"""``modelmuxer demo``: route and answer a mixed prompt set offline under each strategy.

Every request really goes through :meth:`Muxer.acomplete` on the offline backend, so each cost
is the offline answer's token counts times the real model's price from litellm's price map.
The baseline is the same prompts answered by the strongest candidate every time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.cli.demo_report import render_report
from modelmuxer.cli.prompts import DEMO_MODELS, DemoPrompt, demo_prompts
from modelmuxer.cli.table import truncate
from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.muxer import Muxer
from modelmuxer.types import Completion, ModelCard

__all__ = [
    "DEFAULT_STRATEGIES",
    "SCRIPT_KEY",
    "DemoResult",
    "Row",
    "ScriptedRefusals",
    "StrategyRun",
    "cheapest_cards",
    "run_demo",
    "run_demo_command",
    "strongest_card",
]

DEFAULT_STRATEGIES: tuple[str, ...] = ("hybrid", "cost_optimized", "quality_first", "cascade")
#: Request metadata flag: the cheapest models refuse this prompt (see :class:`ScriptedRefusals`).
SCRIPT_KEY = "demo_scripted_refusal"
#: Rows keep the start of the prompt only: the long documents would swamp ``--json``.
_PROMPT_CHARS = 200


class ScriptedRefusals:
    """Demo plugin: the given models refuse requests flagged with :data:`SCRIPT_KEY`.

    It uses the offline backend's own ``refuse`` knob, set per call, so only the scripted models'
    calls refuse and every other model answers the same request normally.
    """

    def __init__(self, models: frozenset[str]) -> None:
        self.models = models

    @hookimpl
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Awaitable[ModelResponse] | None:
        if call.card.id not in self.models or not call.request.metadata.get(SCRIPT_KEY):
            return None  # let the built-in implementation call the backend
        metadata = {**call.request.metadata, "offline": {"refuse": True}}
        scripted = dataclasses.replace(
            call, request=call.request.model_copy(update={"metadata": metadata})
        )
        return scripted.backend.complete(scripted)


@dataclass(frozen=True, slots=True)
class Row:
    """One prompt as one strategy handled it."""

    index: int
    category: str
    prompt: str
    model: str
    chain: tuple[str, ...]
    cost_usd: float
    reason: str
    escalations: int
    refused: bool


@dataclass(frozen=True, slots=True)
class StrategyRun:
    """Every prompt under one strategy (or the strongest-model baseline)."""

    strategy: str
    rows: tuple[Row, ...]

    @property
    def total_usd(self) -> float:
        return sum(row.cost_usd for row in self.rows)

    @property
    def models(self) -> Counter[str]:
        return Counter(row.model for row in self.rows)

    @property
    def escalations(self) -> int:
        return sum(row.escalations for row in self.rows)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The whole demo: the baseline, each strategy, what was scripted, how long it took."""

    models: tuple[ModelCard, ...]
    strongest: ModelCard
    baseline: StrategyRun
    runs: tuple[StrategyRun, ...]
    scripted_models: tuple[str, ...]
    scripted_prompts: tuple[int, ...]
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable results (what ``--json`` prints)."""
        base = self.baseline.total_usd
        return {
            "models": [card.id for card in self.models],
            "strongest": {
                "model": self.strongest.id,
                "quality_prior": self.strongest.quality,
                "total_cost_usd": base,
                "rows": [_row_dict(row) for row in self.baseline.rows],
            },
            "strategies": [
                {
                    "strategy": run.strategy,
                    "total_cost_usd": run.total_usd,
                    "strongest_total_cost_usd": base,
                    "saved_pct": _saved_pct(run.total_usd, base),
                    "models": dict(run.models),
                    "escalations": run.escalations,
                    "rows": [_row_dict(row) for row in run.rows],
                }
                for run in self.runs
            ],
            "scripted_refusals": {
                "models": list(self.scripted_models),
                "prompts": list(self.scripted_prompts),
            },
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _row_dict(row: Row) -> dict[str, Any]:
    return dataclasses.asdict(row) | {"chain": list(row.chain)}


def _saved_pct(total: float, baseline: float) -> float:
    return round(100.0 * (1.0 - total / baseline), 2) if baseline > 0 else 0.0


def strongest_card(cards: tuple[ModelCard, ...]) -> ModelCard:
    """The candidate with the highest quality prior; ties go to the cheaper, then the smaller id."""
    return min(
        cards,
        key=lambda c: (-c.quality, c.input_cost_per_token + c.output_cost_per_token, c.id),
    )


def cheapest_cards(cards: tuple[ModelCard, ...]) -> tuple[ModelCard, ...]:
    """Every candidate priced like the cheapest one (same input and output price)."""
    low = min((c.input_cost_per_token, c.output_cost_per_token) for c in cards)
    return tuple(c for c in cards if (c.input_cost_per_token, c.output_cost_per_token) == low)


def _row(index: int, prompt: DemoPrompt, completion: Completion, scripted: frozenset[str]) -> Row:
    attempts = completion.attempts
    chain = tuple(a.model for a in attempts) or (completion.model,)
    reason = completion.decision.reason
    escalated = [a for a in attempts if a.outcome == "escalated"]
    judged = [a for a in attempts if a.judge_score is not None]
    if judged:  # a cascade: say what the judge decided before the strategy's reason
        first = judged[0]
        verdict = "escalated" if first.outcome == "escalated" else "accepted"
        reason = f"{verdict}: judge scored {first.model} {first.judge_score:.2f}; {reason}"
    return Row(
        index=index,
        category=prompt.category,
        prompt=truncate(prompt.preview, _PROMPT_CHARS),
        model=completion.model,
        chain=chain,
        cost_usd=completion.cost_usd,
        reason=reason,
        escalations=len(escalated),
        refused=prompt.scripted_refusal and completion.model in scripted,
    )


async def _answer_all(
    muxer: Muxer, prompts: list[DemoPrompt], scripted: frozenset[str], **route: str
) -> tuple[Row, ...]:
    rows = []
    for index, prompt in enumerate(prompts, start=1):
        metadata = {SCRIPT_KEY: True} if prompt.scripted_refusal else {}
        completion = await muxer.acomplete(
            prompt.messages, metadata=metadata, **prompt.params, **route
        )
        rows.append(_row(index, prompt, completion, scripted))
    return tuple(rows)


async def run_demo(strategies: list[str] | None = None, limit: int | None = None) -> DemoResult:
    """Answer the demo prompts under each strategy and with the strongest model alone."""
    t0 = time.perf_counter()
    names = list(strategies or DEFAULT_STRATEGIES)
    muxer = Muxer(list(DEMO_MODELS), load_entrypoints=False)
    cards = muxer.catalog.cards()
    scripted = frozenset(c.id for c in cheapest_cards(cards))
    muxer.plugins.register(ScriptedRefusals(scripted), name="modelmuxer.demo.scripted")
    for name in names:
        muxer.strategies.get(name)  # an unknown name fails before any work, listing the known
    prompts = demo_prompts()[:limit] if limit else demo_prompts()
    strongest = strongest_card(cards)
    baseline = StrategyRun(
        "strongest", await _answer_all(muxer, prompts, scripted, model=strongest.id)
    )
    runs = [
        StrategyRun(name, await _answer_all(muxer, prompts, scripted, strategy=name))
        for name in names
    ]
    return DemoResult(
        models=cards,
        strongest=strongest,
        baseline=baseline,
        runs=tuple(runs),
        scripted_models=tuple(sorted(scripted)),
        scripted_prompts=tuple(i for i, p in enumerate(prompts, start=1) if p.scripted_refusal),
        elapsed_s=time.perf_counter() - t0,
    )


def run_demo_command(args: argparse.Namespace) -> int:
    """``modelmuxer demo``: run the demo and print the report (or ``--json``)."""
    from modelmuxer.cli.demo_ops import check_ledger, render_ops, run_ops_demo

    if args.ledger:
        asyncio.run(check_ledger(args.ledger))
    strategies = None if args.strategy == "all" else [args.strategy]
    result = asyncio.run(run_demo(strategies, args.limit))
    prompts = demo_prompts()[: args.limit] if args.limit else demo_prompts()
    ops = asyncio.run(run_ops_demo(prompts, args.ledger))
    if args.json:
        print(json.dumps(result.as_dict() | {"operations": ops.as_dict()}, indent=2))
    else:
        print(render_report(result))
        print(render_ops(ops))
    return 0
