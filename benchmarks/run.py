"""Run the benchmark suite and write benchmarks/RESULTS.md and benchmarks/results.json.

Usage: ``python benchmarks/run.py [--quick] [--icount]`` (or ``tox -e bench``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MODELMUXER_DISABLE_PLUGIN_AUTOLOAD", "1")
sys.path.insert(0, str(Path(__file__).parent))

from _machine import machine_info
from bench_budgets import bench_budgets, render_budgets
from bench_cache import bench_cache, render_cache
from bench_core import bench_acomplete, bench_import, bench_route
from bench_langchain import bench_langchain
from bench_learning import bench_learning, render_learning
from bench_ledger import bench_ledger, ledger_goals, render_ledger
from bench_litellm import bench_litellm, count_instructions, litellm_goals, render_litellm
from bench_llamaindex import bench_llamaindex
from bench_telemetry import bench_telemetry, render_telemetry, telemetry_goals

HERE = Path(__file__).parent


def _render(results: dict) -> str:
    m = results["machine"]
    imp = results["import"]
    acc = results["acomplete"]
    quick = " --quick" if results["quick"] else ""
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['when']} with `python benchmarks/run.py{quick}`.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in m.items()),
        "",
        "## Import time (goal: `import modelmuxer` at most 150 ms over `python -c pass`)",
        "",
        "| command | median ms | over `pass` |",
        "|---|---:|---:|",
        f"| `python -c pass` | {imp['pass_ms']:.1f} | |",
        f"| `import modelmuxer` | {imp['import_modelmuxer_ms']:.1f} "
        f"| **{imp['import_extra_ms']:.1f}** |",
        f"| `from pydantic import BaseModel, ...` | {imp['pydantic_ms']:.1f} "
        f"| {imp['pydantic_ms'] - imp['pass_ms']:.1f} |",
        f"| `from modelmuxer import Muxer` | {imp['from_modelmuxer_import_muxer_ms']:.1f} "
        f"| {imp['muxer_extra_ms']:.1f} |",
        "",
        f"`import modelmuxer` loads its public names lazily (PEP 562). Loading the pipeline "
        f"(`from modelmuxer import Muxer`) costs {imp['muxer_over_pydantic_ms']:.1f} ms more than "
        "importing pydantic, which LangChain, LlamaIndex and litellm all import anyway; pydantic "
        "itself is most of the rest. litellm is never imported until a litellm model is called. "
        f"Median of {imp['runs']} fresh interpreters per command, interleaved.",
        "",
        "## `route()` decision latency (goal: p50 at most 50 µs, 10 candidates, short prompt)",
        "",
        "| strategy | candidates | prompt tokens | p50 µs | p99 µs | CPU p50 µs | calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["route"]:
        lines.append(
            f"| {row['strategy']} | {row['candidates']} | {row['prompt_tokens']} | "
            f"{row['p50_us']:.1f} | {row['p99_us']:.1f} | {row['cpu_p50_us']:.1f} | {row['n']} |"
        )
    lines += [
        "",
        "Each `route()` call reuses one validated request, analyses the query, applies the hard",
        "constraints, estimates every candidate and runs the strategy.",
        "",
        "## `acomplete()` over the offline backend (goal: at most 100 µs p50 added)",
        "",
        "| | p50 µs | p99 µs | CPU p50 µs |",
        "|---|---:|---:|---:|",
        f"| offline backend called directly | {acc['direct_p50_us']:.1f} "
        f"| {acc['direct_p99_us']:.1f} | {acc['direct_cpu_p50_us']:.1f} |",
        f"| `Muxer.acomplete` (hybrid routing) | {acc['routed_p50_us']:.1f} "
        f"| {acc['routed_p99_us']:.1f} | {acc['routed_cpu_p50_us']:.1f} |",
        f"| `Muxer.acomplete` (pinned model, no routing) | {acc['pinned_p50_us']:.1f} | "
        f"| {acc['pinned_cpu_p50_us']:.1f} |",
        "",
        f"Added by ModelMuxer, p50: **{acc['added_p50_us']:.1f} µs** routed, "
        f"{acc['added_pinned_p50_us']:.1f} µs pinned ({acc['n']} interleaved calls each); "
        f"in CPU time {acc['added_cpu_p50_us']:.1f} µs routed, "
        f"{acc['added_pinned_cpu_p50_us']:.1f} µs pinned.",
        "",
    ]
    lc = results["langchain"]
    li = results["llamaindex"]
    lines += [
        "## Adapters (goal: at most 1.5x the framework's own fake model)",
        "",
        "| | p50 µs | ratio |",
        "|---|---:|---:|",
        f"| LangChain fake chat model `ainvoke` | {lc['fake_ainvoke_p50_us']:.1f} | 1.00 |",
        f"| `ChatModelMuxer.ainvoke` over that fake model | "
        f"{lc['chatmodelmuxer_ainvoke_p50_us']:.1f} | **{lc['ratio']:.2f}** |",
        f"| LlamaIndex `MockLLM.achat` | {li['baseline_p50_us']:.1f} | 1.00 |",
        f"| `ModelMuxerLLM.achat` over offline models | {li['routed_offline_p50_us']:.1f} "
        f"| **{li['ratio_offline']:.2f}** |",
        f"| `ModelMuxerLLM.achat` over two wrapped `MockLLM`s | {li['routed_mock_p50_us']:.1f} "
        f"| {li['ratio_mock']:.2f} |",
        "",
        "Interleaved calls in one run. Wrapping a framework model runs that model's whole call",
        "(with its own callback machinery) inside ModelMuxer's, so the wrapped ratios carry the",
        "framework's cost twice.",
        "",
    ]
    lines += render_litellm(results["litellm"])
    lines += render_telemetry(results["telemetry"])
    lines += render_cache(results["cache"])
    lines += render_learning(results["learning"])
    lines += render_ledger(results["ledger"])
    lines += render_budgets(results["budgets"])
    lines += _goals(results)
    return "\n".join(lines)


def _goals(results: dict) -> list[str]:
    """Each goal of the issues, checked against this run's figures."""
    route10 = [r for r in results["route"] if r["candidates"] == 10 and r["prompt_tokens"] == 100]
    worst10 = max(r["p50_us"] for r in route10)
    checks = [
        ("`import modelmuxer` <= 150 ms extra", results["import"]["import_extra_ms"], 150.0, "ms"),
        (
            "`route()` p50 <= 50 µs, 10 candidates, short prompt (slowest strategy)",
            worst10,
            50.0,
            "µs",
        ),
        (
            "`acomplete()` <= 100 µs p50 added (offline backend)",
            results["acomplete"]["added_p50_us"],
            100.0,
            "µs",
        ),
        (
            "`ChatModelMuxer.ainvoke` <= 1.5x a fake chat model",
            results["langchain"]["ratio"],
            1.5,
            "x",
        ),
        (
            "`ModelMuxerLLM.achat` <= 1.5x MockLLM (offline candidates)",
            results["llamaindex"]["ratio_offline"],
            1.5,
            "x",
        ),
        (
            "exact cache hit p50 <= 30 µs in memory (raw lookup)",
            results["cache"]["exact"]["memory"]["lookup_p50_us"],
            30.0,
            "µs",
        ),
        (
            "exact cache hit p50 <= 400 µs on the local Redis (raw lookup)",
            results["cache"]["exact"]["redis"]["lookup_p50_us"],
            400.0,
            "µs",
        ),
        *ledger_goals(results["ledger"]),
        *litellm_goals(results["litellm"]),
        *telemetry_goals(results["telemetry"]),
    ]
    learning = results["learning"]
    checks.append(
        (
            "`route()` p50 <= 300 µs with the trained predictor, 11 candidates, 500 tokens",
            max(
                learning[f"learned_{s}{v}"]["p50_us"]
                for s in ("hybrid", "cost_optimized", "cascade", "utility")
                for v in ("", "_varied")
            ),
            300.0,
            "µs",
        )
    )
    if "train_all_s" in learning:
        checks.append(
            ("training on all the shared data < 120 s", learning["train_all_s"], 120.0, "s")
        )
    out = ["## Goals in this run", "", "| goal | measured | met |", "|---|---:|:---:|"]
    for name, value, limit, unit in checks:
        out.append(f"| {name} | {value:.2f} {unit} | {'yes' if value <= limit else '**no**'} |")
    out += [
        "",
        "Absolute figures on this shared machine drift by up to 2x between runs (the fake chat",
        "model's own `ainvoke` has measured 350 to 740 µs here on the same day); ratios measured",
        "in one run are the stable figures.",
        "",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument(
        "--icount",
        action="store_true",
        help="also count the LiteLLM Router's instructions per call under valgrind (minutes)",
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    results = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": machine_info(),
        "import": bench_import(runs=5 if args.quick else 15),
        "route": bench_route(n_calls=3000 // scale),
        "acomplete": bench_acomplete(n_calls=3000 // scale),
        "langchain": bench_langchain(2000 // scale),
        "llamaindex": bench_llamaindex(2000 // scale),
        "litellm": bench_litellm(2000 // scale),
        "budgets": bench_budgets(n_per_process=5000 // scale),
        "ledger": bench_ledger(20_000 // scale, 50_000 // scale),
        "cache": bench_cache(3000 // scale, quick=args.quick),
        "learning": bench_learning(3000 // scale),
        "telemetry": bench_telemetry(20_000 // scale),
    }
    if args.icount:
        results["litellm"]["icount"] = count_instructions()
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(_render(results))
    print(_render(results))


if __name__ == "__main__":
    main()
