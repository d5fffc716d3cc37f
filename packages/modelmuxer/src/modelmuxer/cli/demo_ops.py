"""The operations half of ``modelmuxer demo``: the response cache, a budget, the cost ledger.

One muxer on embedded defaults (in-memory cache, in-memory budget counters, a SQLite ledger in a
file) answers the demo prompts twice for one team, so the second pass is served from the cache,
then answers them for a second team whose daily budget is a fraction of what the prompts cost:
routing leans towards cheaper models as the budget runs low, and the calls it cannot cover are
refused with :class:`~modelmuxer.errors.BudgetExceeded`. The spend report at the end is read back
from the ledger, so it shows what was really recorded.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from modelmuxer.cli.prompts import DEMO_MODELS, DemoPrompt
from modelmuxer.errors import BudgetExceeded, ConfigError
from modelmuxer.muxer import Muxer

__all__ = ["BudgetRow", "OpsResult", "check_ledger", "render_ops", "run_ops_demo"]

#: The budgeted team's daily limit, as a fraction of what its prompts cost without a budget.
BUDGET_FRACTION = Decimal("0.05")
TEAM, FRUGAL = "demo-team", "frugal-team"
#: An output cap makes worst-case reservations tight (without it a reservation assumes the
#: model's whole output limit, 16k tokens for gpt-4o-mini).
MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One prompt of the budgeted team: the model it got, or the refusal."""

    index: int
    model: str | None
    cost_usd: float
    steered: bool  # the budget excluded models it could not cover, or made routing lean to cost
    refusal: str | None


@dataclass(frozen=True, slots=True)
class OpsResult:
    """What the operations demo saw, and the ledger's report of it."""

    ledger_url: str
    prompts: int
    first_pass_usd: float
    cache_hits: int
    cache_saved_usd: float
    budget_limit_usd: Decimal
    budget_rows: tuple[BudgetRow, ...]
    budget_spent_usd: Decimal
    report: Any  # modelmuxer.ledger.reports.SpendReport (SQLAlchemy loads only when used)
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable results (part of what ``--json`` prints)."""
        savings = self.report.savings
        return {
            "ledger_url": self.ledger_url,
            "prompts": self.prompts,
            "first_pass_usd": self.first_pass_usd,
            "cache": {"hits": self.cache_hits, "saved_usd": self.cache_saved_usd},
            "budget": {
                "limit_usd": str(self.budget_limit_usd),
                "spent_usd": str(self.budget_spent_usd),
                "answered": sum(r.refusal is None for r in self.budget_rows),
                "refused": sum(r.refusal is not None for r in self.budget_rows),
                "steered": sum(r.steered for r in self.budget_rows),
            },
            "ledger": {
                "calls": sum(line.calls for line in self.report.lines),
                "cost_usd": str(sum((line.cost_usd for line in self.report.lines), Decimal(0))),
                "saved_vs_strongest_usd": str(savings.vs_strongest_usd),
                "cache_saved_usd": str(savings.cache_saved_usd),
            },
        }


def _settings(ledger_url: str, outbox: Path) -> Any:
    from modelmuxer.config import load_settings

    return load_settings(
        models=list(DEMO_MODELS),
        load_entrypoints=False,
        cache={"enabled": True},
        budgets={"enabled": True},  # budgets are set through the API below
        ledger={"enabled": True, "url": ledger_url, "outbox_dir": str(outbox)},
    )


def _params(prompt: DemoPrompt) -> dict[str, Any]:
    return {"max_tokens": MAX_TOKENS, **prompt.params}


async def _pass(muxer: Muxer, prompts: list[DemoPrompt], org: str) -> list[Any]:
    return [await muxer.acomplete(p.messages, identity={"org": org}, **_params(p)) for p in prompts]


async def _budgeted(muxer: Muxer, prompts: list[DemoPrompt]) -> list[BudgetRow]:
    rows = []
    for index, prompt in enumerate(prompts, start=1):
        try:
            # no cache: the team pays for its own answers, so the budget has something to do
            completion = await muxer.acomplete(
                prompt.messages,
                identity={"org": FRUGAL},
                routing={"cache": {"no_cache": True}},
                **_params(prompt),
            )
        except BudgetExceeded as exc:
            rows.append(BudgetRow(index, None, 0.0, False, str(exc)))
            continue
        decision = completion.decision
        steered = "leaning towards cost" in decision.reason or any(
            (c.excluded or "").startswith("budget") for c in decision.candidates
        )
        rows.append(BudgetRow(index, completion.model, completion.cost_usd, steered, None))
    return rows


async def check_ledger(url: str) -> None:
    """Connect once to the ledger database at ``url``, so that a demo given an unreachable
    ``--ledger`` stops before it runs, with one line instead of a traceback at the end.

    :raises ConfigError: ``url`` is not an async SQLAlchemy url, or the database cannot be
        reached (the message masks any password).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from modelmuxer.ledger.engine import make_engine
    from modelmuxer.ledger.errors import safe_url

    engine = make_engine(url)
    try:
        async with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        reason = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        raise ConfigError(f"cannot reach the demo's ledger {safe_url(url)}: {reason}") from exc
    finally:
        await engine.dispose()


async def run_ops_demo(prompts: list[DemoPrompt], ledger_url: str | None = None) -> OpsResult:
    """Cache, budget and ledger on embedded defaults; the ledger lands in ``ledger_url``
    (default: a SQLite file in a new temporary directory, printed with the report)."""
    from modelmuxer.ledger.engine import make_engine
    from modelmuxer.ledger.reports import aspend_report

    t0 = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="modelmuxer-demo-"))
    url = ledger_url or f"sqlite+aiosqlite:///{workdir / 'ledger.db'}"
    async with Muxer(settings=_settings(url, workdir / "outbox")) as muxer:
        assert muxer.budgets is not None  # enabled in the settings
        first = await _pass(muxer, prompts, TEAM)
        second = await _pass(muxer, prompts, TEAM)
        hits = [c for c in second if c.cache in ("exact", "semantic")]
        spent_unbudgeted = sum(c.cost_usd for c in first)
        limit = (Decimal(str(spent_unbudgeted)) * BUDGET_FRACTION).quantize(Decimal("0.000001"))
        budget = muxer.budgets.set_budget(
            scope="org", subject=FRUGAL, period="day", limit_usd=limit
        )
        rows = await _budgeted(muxer, prompts)
        state = await muxer.budgets.state(budget.name, FRUGAL)
    # the muxer flushed its ledger on exit: read the report back from the database
    engine = make_engine(url)
    try:
        report = await aspend_report(engine, by="org")
    finally:
        await engine.dispose()
    return OpsResult(
        ledger_url=url,
        prompts=len(prompts),
        first_pass_usd=spent_unbudgeted,
        cache_hits=len(hits),
        cache_saved_usd=sum(c.saved_usd for c in hits),
        budget_limit_usd=limit,
        budget_rows=tuple(rows),
        budget_spent_usd=state.spent_usd,
        report=report,
        elapsed_s=time.perf_counter() - t0,
    )


def render_ops(result: OpsResult) -> str:
    """The operations section of the demo's text report."""
    from modelmuxer.cli.table import render_table, short_model, usd

    rows = result.budget_rows
    answered = [r for r in rows if r.refusal is None]
    refused = [r for r in rows if r.refusal is not None]
    report = result.report
    ledger_rows = [
        [
            line.key or "-",
            str(line.requests),
            str(line.calls),
            str(line.cache_hits),
            usd(float(line.cost_usd)),
            usd(float(line.cache_saved_usd)),
        ]
        for line in report.lines
    ]
    models = sorted({short_model(r.model) for r in answered if r.model})
    parts = [
        "\n== cache, budgets and the ledger (hybrid) ==\n",
        f"cache: {TEAM} sent the {result.prompts} prompts twice; the second pass had "
        f"{result.cache_hits} exact hits, which saved {usd(result.cache_saved_usd)} "
        f"(the first pass cost {usd(result.first_pass_usd)}).",
        f"budget: {FRUGAL} has {usd(float(result.budget_limit_usd))} a day "
        f"({100 * BUDGET_FRACTION:.0f}% of that). {len(answered)} prompts were answered "
        f"(by {', '.join(models) or 'none'}), {sum(r.steered for r in rows)} of them with routing "
        f"steered by the budget; {len(refused)} were refused with BudgetExceeded; spent "
        f"{usd(float(result.budget_spent_usd))}, "
        + ("within" if result.budget_spent_usd <= result.budget_limit_usd else "OVER")
        + " the limit.",
    ]
    if refused:
        parts.append(f"  first refusal (prompt {refused[0].index}): {refused[0].refusal}")
    parts += [
        f"\nledger: every call recorded in {result.ledger_url}, read back by org "
        "(`modelmuxer report --url URL --by org` prints the same):\n",
        render_table(
            ["org", "requests", "calls", "cache hits", "cost", "cache saved"], ledger_rows
        ),
        f"\nrouting saved {usd(float(report.savings.vs_strongest_usd))} against always using the "
        "strongest model on the same calls.",
    ]
    return "\n".join(parts)
