"""The demo's text report: a table per strategy, a summary line each, a comparison, footnotes."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from modelmuxer.cli.table import render_table, short_model, truncate, usd

if TYPE_CHECKING:
    from modelmuxer.cli.demo import DemoResult, Row, StrategyRun

__all__ = ["render_report"]

_PROMPT_WIDTH = 40
_REASON_WIDTH = 60


def _shorten_ids(text: str, ids: list[str]) -> str:
    """``text`` with each full model id replaced by its short name (longest ids first)."""
    for model_id in sorted(ids, key=len, reverse=True):
        text = text.replace(model_id, short_model(model_id))
    return text


def _chosen(row: Row) -> str:
    shown = ">".join(short_model(m) for m in row.chain)
    return shown + (" *" if row.refused else "")


def _mix(models: Counter[str]) -> str:
    return ", ".join(f"{short_model(m)} x{n}" for m, n in models.most_common())


def _strategy_table(run: StrategyRun, ids: list[str]) -> str:
    rows = [
        [
            str(row.index),
            row.category,
            truncate(row.prompt, _PROMPT_WIDTH),
            _chosen(row),
            usd(row.cost_usd),
            truncate(_shorten_ids(row.reason, ids), _REASON_WIDTH),
        ]
        for row in run.rows
    ]
    headers = ["#", "category", "prompt", "chosen model", "cost", "reason"]
    return render_table(headers, rows, right=(0, 4))


def _summary(run: StrategyRun, result: DemoResult) -> str:
    base = result.baseline.total_usd
    total = run.total_usd
    if base > 0 and total <= base:
        verdict = f"saved {100.0 * (1.0 - total / base):.1f}%"
    elif base > 0:
        verdict = f"cost {100.0 * (total / base - 1.0):.1f}% more"
    else:
        verdict = "no baseline cost"
    escalations = f"; {run.escalations} escalation(s)" if run.escalations else ""
    return (
        f"{run.strategy}: {usd(total)} vs {usd(base)} always "
        f"{short_model(result.strongest.id)} (strongest) -> {verdict}{escalations}\n"
        f"  models: {_mix(run.models)}"
    )


def _comparison(result: DemoResult) -> str:
    base = result.baseline.total_usd
    rows = []
    for run in (*result.runs, result.baseline):
        name = run.strategy
        if run is result.baseline:
            name = f"always {short_model(result.strongest.id)}"
        share = f"{100.0 * run.total_usd / base:.1f}%" if base > 0 else "-"
        refused = sum(row.refused for row in run.rows)
        rows.append(
            [name, usd(run.total_usd), share, str(run.escalations), str(refused), _mix(run.models)]
        )
    headers = ["strategy", "total cost", "% of strongest", "escalations", "refusals", "models used"]
    return render_table(headers, rows, right=(1, 2, 3, 4))


def _ties(result: DemoResult) -> str:
    strongest = result.strongest
    tied = [c.id for c in result.models if c.quality == strongest.quality and c != strongest]
    if not tied:
        return ""
    names = ", ".join(short_model(m) for m in tied)
    verbs = "ties with it and costs" if len(tied) == 1 else "tie with it and cost"
    return f"; {names} {verbs} more, so the baseline uses the cheaper model"


def _footnotes(result: DemoResult) -> list[str]:
    strongest = result.strongest
    n_requests = len(result.baseline.rows) * (len(result.runs) + 1)
    notes = [
        "Notes:",
        "- Every answer comes from the offline backend (deterministic, no network, no keys). "
        "Costs are the offline answers' token counts x the real models' prices from litellm's "
        "price map.",
        f"- The strongest model is the candidate with the highest quality prior: "
        f"{short_model(strongest.id)} ({strongest.quality:.2f}){_ties(result)}.",
    ]
    if result.scripted_prompts:
        models = ", ".join(short_model(m) for m in result.scripted_models)
        prompts = ", ".join(f"#{i}" for i in result.scripted_prompts)
        notes.append(
            f"- The offline cheap model(s) ({models}) are scripted to refuse "
            f"{len(result.scripted_prompts)} prompt(s) ({prompts}) to show the cascade's "
            "escalation; rows marked * returned that refusal to the user."
        )
    if any(run.strategy == "cascade" for run in result.runs):
        notes.append(
            "- The cascade's built-in judge is structural: it catches empty, refused, cut-off "
            "or malformed answers, not wrong ones. Offline answers are well-formed, so only "
            "the scripted refusals escalate; register an LLM or test-based judge for more."
        )
    notes.append(f"- {n_requests} requests routed and answered in {result.elapsed_s:.2f} s.")
    return notes


def render_report(result: DemoResult) -> str:
    """The whole text report."""
    ids = [card.id for card in result.models]
    parts = [
        f"ModelMuxer demo: {len(result.baseline.rows)} prompts, candidates: "
        + ", ".join(short_model(i) for i in ids)
    ]
    for run in result.runs:
        parts.append(f"\n== strategy: {run.strategy} ==\n")
        parts.append(_strategy_table(run, ids))
        parts.append("\n" + _summary(run, result))
    parts.append("\n== comparison ==\n")
    parts.append(_comparison(result))
    parts.append("")
    parts.extend(_footnotes(result))
    return "\n".join(parts)
