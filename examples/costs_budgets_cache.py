"""Costs, budgets and caching: a ledger of every call, a daily budget per team, a response cache.

Offline by default (the offline backend answers at real models' prices), on embedded defaults:
the ledger is a SQLite file in a temporary folder, the cache and the budget counters live in
memory. Set REDIS_URL to share the cache and the budget counters between processes, and
DATABASE_URL (``postgresql+asyncpg://...``) to keep the ledger in PostgreSQL. With
OPENAI_API_KEY set, the same code calls OpenAI for real.

    uv run python examples/costs_budgets_cache.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from modelmuxer import BudgetExceeded, Identity, Muxer
from modelmuxer.config import load_settings

REAL = bool(os.environ.get("OPENAI_API_KEY"))
PREFIX = "" if REAL else "offline/"
MODELS = [f"{PREFIX}openai/gpt-4o-mini", f"{PREFIX}openai/gpt-4o"]
REDIS = os.environ.get("REDIS_URL")
FOLDER = Path(tempfile.mkdtemp(prefix="modelmuxer-example-"))
LEDGER = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{FOLDER / 'ledger.db'}"

QUESTIONS = [
    "What is the capital of Australia?",
    "Explain the difference between a process and a thread.",
    "Prove that the square root of 2 is irrational.",
]


def settings() -> object:
    return load_settings(
        models=MODELS,
        ledger={"enabled": True, "url": LEDGER, "outbox_dir": str(FOLDER / "outbox")},
        cache={"enabled": True, **({"backend": "redis", "redis_url": REDIS} if REDIS else {})},
        budgets={
            "backend": REDIS or "memory",
            # every team (org) gets its own counter; $0.00018 a day is tight on purpose
            "budgets": [{"scope": "org", "subject": "*", "period": "day", "limit_usd": "0.00018"}],
        },
    )


async def main() -> None:
    async with Muxer(settings=settings()) as muxer:  # type: ignore[arg-type]
        for team in ("research", "support"):
            for question in QUESTIONS * 2:  # each question twice: the second is a cache hit
                try:
                    answer = await muxer.acomplete(
                        question, identity={"org": team, "user": f"{team}-bot"}, max_tokens=200
                    )
                except BudgetExceeded as refused:
                    print(f"{team}: refused: {refused.budget} has ${refused.limit_usd} a day")
                    continue
                print(
                    f"{team}: {answer.model:<28} cache={answer.cache:<5} "
                    f"cost ${answer.cost_usd:.6f} saved ${answer.saved_usd:.6f}"
                )
        assert muxer.ledger is not None  # both configured above
        assert muxer.budgets is not None
        # a thumbs-up on the last answer: `modelmuxer train --from-ledger` learns from these
        await muxer.ledger.arecord_feedback(answer.request_id, 1.0, kind="thumbs")
        for state in await muxer.budgets.states(identity=Identity(org="research")):
            print(f"budget {state.budget.name}: ${state.spent_usd} spent of ${state.limit_usd}")
        report = await muxer.ledger.areport(by="org")  # covers every call recorded so far
    print(f"\nledger ({LEDGER}):")
    for line in report.lines:
        print(
            f"  {line.key}: {line.calls} calls, ${line.cost_usd:.6f}, "
            f"{line.cache_hits} cache hits saving ${line.cache_saved_usd:.6f}"
        )
    print(f"  routing saved ${report.savings.vs_strongest_usd:.6f} against always {MODELS[1]}")


if __name__ == "__main__":
    asyncio.run(main())
