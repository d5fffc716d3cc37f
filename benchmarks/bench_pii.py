"""PII redaction benchmarks: precision and recall per kind on the generated labelled corpus, and
what redaction costs.

- Quality: the built-in detectors on ``generate_corpus()`` (seeded: about 6,400 texts, 500
  labelled values per kind in varied formats and sentences, 2,400 near-misses), for two seeds.
  Per kind: labelled values, recall (values covered whole by a span of their kind), precision
  (spans that overlap a labelled value of their kind) and leaked values (covered by no span).
- Cost: scanning throughput on English prose with numbers and on Python source (µs per KB);
  redacting one chat request and restoring its answer; ``Muxer.acomplete`` on an offline model
  with redaction off and on (p50). All of it is CPU work in one thread, timed with the
  thread's CPU clock (``time.thread_time_ns``), so other processes on the machine do not
  inflate the figures.

Run alone: ``python benchmarks/bench_pii.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
from modelmuxer.privacy import PiiScanner, PrivacyGuard
from modelmuxer.privacy.corpus import generate_corpus
from modelmuxer.privacy.detectors import BUILTIN_DETECTORS
from modelmuxer.privacy.evaluation import STRUCTURED_KINDS, evaluate
from modelmuxer.privacy.settings import PrivacySettings

__all__ = ["bench_pii", "render_pii", "render_pii_summary"]

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (20240601, 7)
QUESTION = (
    "Hi, I'm writing about my order. You can reach me at jane.doe@example.com or on "
    "+44 20 7946 0958. Please refund the card 4111 1111 1111 1111 and tell me when it is done."
)


def _p50_us(samples_ns: list[int]) -> float:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000


def _quality(per_kind: int, near_misses: int) -> dict[str, Any]:
    scanner = PiiScanner(BUILTIN_DETECTORS)
    runs: dict[str, Any] = {}
    for seed in SEEDS:
        corpus = generate_corpus(seed, per_kind=per_kind, near_misses=near_misses)
        scores = evaluate(scanner, corpus)
        runs[str(seed)] = {
            "texts": len(corpus),
            "kinds": {
                kind: {
                    "labelled": s.labelled,
                    "recall": s.recall,
                    "precision": s.precision,
                    "detected": s.detected,
                    "leaked": s.leaked,
                }
                for kind, s in scores.items()
            },
        }
    return runs


def _texts() -> dict[str, str]:
    docs = "\n\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    code = (ROOT / "packages/modelmuxer/src/modelmuxer/muxer.py").read_text()
    return {"prose (docs, 20 KB)": docs[:20_000], "Python code (20 KB)": (code * 2)[:20_000]}


def _scan_cost(n: int) -> dict[str, float]:
    scanner = PiiScanner(BUILTIN_DETECTORS)
    out = {}
    for name, text in _texts().items():
        samples = []
        for _ in range(n):
            t0 = time.thread_time_ns()
            scanner.scan(text)
            samples.append(time.thread_time_ns() - t0)
        out[name] = _p50_us(samples) / (len(text) / 1000)
    return out


def _request_cost(n: int) -> dict[str, float]:
    muxer = Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False)
    guard = PrivacyGuard(muxer.plugins, PrivacySettings(redact=True))
    request = muxer.request(
        [{"role": "system", "content": "You are a helpful support agent. " * 10},
         {"role": "user", "content": QUESTION * 4}]
    )  # fmt: skip
    answer = "I refunded [CREDIT_CARD_1] and wrote to [EMAIL_1]; call [PHONE_1] if needed. " * 8
    redact, restore = [], []
    for _ in range(n):
        t0 = time.thread_time_ns()
        _, redactor = guard.redact_request(request)
        t1 = time.thread_time_ns()
        redactor.restore(answer)
        restore.append(time.thread_time_ns() - t1)
        redact.append(t1 - t0)
    muxer.close()
    return {
        "request_chars": float(sum(len(m.text) for m in request.messages)),
        "redact_us": _p50_us(redact),
        "restore_us": _p50_us(restore),
    }


async def _acomplete(muxer: Muxer, n: int) -> float:
    for _ in range(50):
        await muxer.acomplete(QUESTION)
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.thread_time_ns()
            await muxer.acomplete(QUESTION)
            samples.append(time.thread_time_ns() - t0)
    finally:
        gc.enable()
    return _p50_us(samples)


def _pipeline_cost(n: int) -> dict[str, float]:
    out = {}
    for name, privacy in (("off", {}), ("on", {"redact": True})):
        settings = MuxerSettings(
            models=["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
            privacy=privacy,
            load_entrypoints=False,
        )
        muxer = Muxer(settings=settings)
        out[name] = asyncio.run(_acomplete(muxer, n))
        muxer.close()
    return out


def bench_pii(quick: bool = False) -> dict[str, Any]:
    """Quality on the corpus (two seeds) and the costs."""
    per_kind, near_misses = (150, 700) if quick else (500, 2400)
    return {
        "quality": _quality(per_kind, near_misses),
        "scan_us_per_kb": _scan_cost(5 if quick else 30),
        "request": _request_cost(200 if quick else 2000),
        "acomplete_p50_us": _pipeline_cost(300 if quick else 3000),
    }


def render_pii(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md-style section."""
    lines = ["## PII redaction: detection quality on the generated corpus, and cost", ""]
    seeds = list(result["quality"])
    lines += [
        "| kind | labelled | recall | precision | leaked | recall (seed "
        f"{seeds[1]}) | precision (seed {seeds[1]}) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    first, second = (result["quality"][s]["kinds"] for s in seeds)
    for kind in sorted(first, key=lambda k: (k not in STRUCTURED_KINDS, k)):
        a, b = first[kind], second.get(kind, {})
        mark = "" if kind in STRUCTURED_KINDS else " (heuristic)"
        lines.append(
            f"| {kind}{mark} | {a['labelled']} | {a['recall']:.4f} | {a['precision']:.4f} "
            f"| {a['leaked']} | {b.get('recall', 0):.4f} | {b.get('precision', 0):.4f} |"
        )
    texts = ", ".join(f"{result['quality'][s]['texts']} texts (seed {s})" for s in seeds)
    req, pipe = result["request"], result["acomplete_p50_us"]
    lines += [
        "",
        f"Corpus: {texts}, from `modelmuxer.privacy.corpus.generate_corpus`.",
        "",
        "| cost | value |",
        "|---|---:|",
        *(f"| scan {name} | {us:.0f} µs/KB |" for name, us in result["scan_us_per_kb"].items()),
        f"| redact a {req['request_chars']:.0f}-character request (3 values) "
        f"| {req['redact_us']:.0f} µs |",
        f"| restore its answer | {req['restore_us']:.1f} µs |",
        f"| `acomplete`, offline model, redaction off | {pipe['off']:.0f} µs |",
        f"| `acomplete`, offline model, redaction on | {pipe['on']:.0f} µs |",
        "",
    ]
    return lines


def render_pii_summary(result: dict[str, Any]) -> list[str]:
    """The suite's short version: the worst kind per measure over both seeds, and the costs."""
    runs = [run["kinds"] for run in result["quality"].values()]
    structured = [k for k in runs[0] if k in STRUCTURED_KINDS]
    heuristic = [k for k in runs[0] if k not in STRUCTURED_KINDS]

    def worst(kinds: list[str], measure: str) -> tuple[float, str]:
        return min((run[k][measure], k) for run in runs for k in kinds if k in run)

    leaked = sum(run[k]["leaked"] for run in runs for k in run)
    labelled = sum(run[k]["labelled"] for run in runs for k in run)
    texts = sum(run["texts"] for run in result["quality"].values())
    req, pipe = result["request"], result["acomplete_p50_us"]
    lines = [
        "## PII redaction: detection quality and cost (summary)",
        "",
        "| detectors | kinds | lowest recall | lowest precision |",
        "|---|---:|---:|---:|",
    ]
    for name, kinds in (("structured (validated)", structured), ("heuristic", heuristic)):
        if kinds:
            (recall, r_kind), (precision, p_kind) = (
                worst(kinds, "recall"),
                worst(kinds, "precision"),
            )
            lines.append(
                f"| {name} | {len(kinds)} | {recall:.4f} ({r_kind}) | {precision:.4f} ({p_kind}) |"
            )
    lines += [
        "",
        f"Over {texts} generated texts (two seeds of `generate_corpus`, {labelled} labelled "
        f"values): **{leaked}** values leaked (covered by no span). "
        "`python benchmarks/bench_pii.py` prints the table per kind.",
        "",
        "| cost | value |",
        "|---|---:|",
        *(f"| scan {name} | {us:.0f} µs/KB |" for name, us in result["scan_us_per_kb"].items()),
        f"| redact a {req['request_chars']:.0f}-character request (3 values) "
        f"| {req['redact_us']:.0f} µs |",
        f"| restore its answer | {req['restore_us']:.1f} µs |",
        f"| `acomplete`, offline model: redaction off / on | {pipe['off']:.0f} / "
        f"{pipe['on']:.0f} µs |",
        "",
    ]
    return lines


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("MODELMUXER_DISABLE_PLUGIN_AUTOLOAD", "1")
    outcome = bench_pii(quick="--quick" in sys.argv)
    print("\n".join(render_pii(outcome)))
