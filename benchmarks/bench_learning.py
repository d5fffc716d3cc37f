"""Learned-router benchmarks: decision latency with the trained predictor, and training time.

- ``route()`` p50 with 11 candidates and a 500-token prompt, with the learned predictor loaded
  (a router trained on RouterBench when the shared data is there, so all 11 candidates are
  known models; the shipped default otherwise), against the same muxer on the priors.
- Training time on all the shared data (RouterBench and RouteLLM's MMLU and GSM8K, one table
  over the union of their models): reading, query analysis, predictor and judge.
"""

from __future__ import annotations

import glob
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_core import _percentiles, _time_calls, prompt_of

from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
from modelmuxer.types import ModelCard

ROUTERBENCH_MODELS = (
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v1",
    "claude-v2",
    "claude-instant-v1",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
    "meta/llama-2-70b-chat",
    "meta/code-llama-instruct-34b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
)
STRATEGIES = {
    "priors": ("hybrid", "cost_optimized", "cascade"),
    "learned": ("hybrid", "cost_optimized", "cascade", "utility"),
}
PRICES = [
    "--price",
    "mistralai/Mixtral-8x7B-Instruct-v0.1=0.24",
    "--price",
    "gpt-4-1106-preview=24.7",
]


def data_dir() -> Path:
    """The shared data (``MODELMUXER_DATA`` overrides ``<repo>/../shared/data``)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("MODELMUXER_DATA", default))


def _cards() -> list[ModelCard]:
    return [
        ModelCard(
            id=model,
            provider="offline",
            input_cost_per_token=(i + 1) * 1e-7,
            output_cost_per_token=(i + 1) * 3e-7,
            context_window=32_000,
            max_output_tokens=4096,
            quality=0.55 + 0.03 * i,
            backend="offline",
        )
        for i, model in enumerate(ROUTERBENCH_MODELS)
    ]


def varied_prompt(tokens: int, seed: int = 0) -> str:
    """About ``tokens`` tokens of mostly distinct words (the worst case for the featuriser,
    which handles each distinct word once; ``prompt_of`` repeats one sentence)."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvk"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(400)]
    picked = [
        rng.choice(words) + rng.choice(("", "", "", ",", ".")) for _ in range(int(tokens * 0.75))
    ]
    return " ".join(picked)


def _train(args: list[str]) -> float:
    from modelmuxer.cli import main

    started = time.perf_counter()
    if main(args) != 0:
        raise RuntimeError(f"modelmuxer {' '.join(args)} failed")
    return time.perf_counter() - started


def bench_learning(n_calls: int = 3000) -> dict[str, Any]:
    data = data_dir()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        router = "default"
        bench = sorted(glob.glob(str(data / "routerbench" / "*.csv")))
        if bench:
            router = str(Path(tmp) / "routerbench.npz")
            _train(["train", "--data", *bench, "--out", router])
            every = [
                *bench,
                *sorted(glob.glob(str(data / "routellm" / "mmlu" / "*.csv"))),
                str(data / "routellm" / "gsm8k" / "gsm8k_responses.csv"),
            ]
            out = str(Path(tmp) / "all.npz")
            result["train_all_s"] = _train(["train", "--data", *every, *PRICES, "--out", out])
        result["router"] = "RouterBench-trained" if bench else "shipped default"
        prompts = {"": prompt_of(500), "_varied": varied_prompt(500)}
        for name, settings in (
            ("priors", MuxerSettings(load_entrypoints=False)),
            ("learned", MuxerSettings(load_entrypoints=False, router=router)),
        ):
            muxer = Muxer(_cards(), settings=settings)
            for strategy in STRATEGIES[name]:
                for suffix, prompt in prompts.items():
                    request = muxer.request(prompt, strategy=strategy)
                    for _ in range(50):
                        muxer.route(request)
                    wall, cpu = _time_calls(lambda r=request, m=muxer: m.route(r), n_calls)
                    result[f"{name}_{strategy}{suffix}"] = {
                        **_percentiles(wall),
                        "cpu_p50_us": _percentiles(cpu)["p50_us"],
                    }
    return result


def render_learning(res: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    lines = [
        "## Learned router (goal: `route()` p50 <= 300 µs, 11 candidates, 500-token prompt)",
        "",
        f"Predictor: {res['router']}.",
        "",
        "| estimates | strategy | prompt | p50 µs | p99 µs | CPU p50 µs |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name in ("priors", "learned"):
        for strategy in STRATEGIES[name]:
            for suffix, kind in (("", "repetitive"), ("_varied", "distinct words")):
                row = res[f"{name}_{strategy}{suffix}"]
                lines.append(
                    f"| {name} | {strategy} | {kind} | {row['p50_us']:.1f} | {row['p99_us']:.1f} "
                    f"| {row['cpu_p50_us']:.1f} |"
                )
    if "train_all_s" in res:
        lines += [
            "",
            f"Training on all the shared data (goal: under 120 s): **{res['train_all_s']:.1f} s**.",
        ]
    return [*lines, ""]


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    print("\n".join(render_learning(bench_learning(1000))))
