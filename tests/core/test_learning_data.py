"""The learned router on the shared routing-outcome data (skipped when the data is absent).

The data lives beside the project (``<repo>/../shared/data``; ``MODELMUXER_DATA`` overrides)
and is never copied into it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from modelmuxer.cli import main
from modelmuxer.learning.outcomes import concat_tables, read_outcomes

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

DATA = Path(
    os.environ.get("MODELMUXER_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
ROUTERBENCH = sorted((DATA / "routerbench").glob("*.csv"))
GSM8K = DATA / "routellm" / "gsm8k" / "gsm8k_responses.csv"
PRICES = [
    "--price",
    "mistralai/Mixtral-8x7B-Instruct-v0.1=0.24",
    "--price",
    "gpt-4-1106-preview=24.7",
]

needs_routerbench = pytest.mark.skipif(
    not ROUTERBENCH, reason=f"RouterBench data not found under {DATA} (set MODELMUXER_DATA)"
)
needs_gsm8k = pytest.mark.skipif(
    not GSM8K.exists(), reason=f"RouteLLM GSM8K data not found under {DATA}"
)


@needs_routerbench
def test_routerbench_files_read_as_one_table() -> None:
    table = concat_tables([read_outcomes(p) for p in ROUTERBENCH])
    assert len(table.models) == 11
    assert len(table) > 2000
    assert not np.isnan(table.scores).any()
    assert (table.costs > 0).all()
    assert {"arc-challenge", "winogrande", "mbpp"} <= set(table.groups)


@needs_routerbench
def test_cross_validated_router_beats_the_zero_router_on_routerbench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--data", *map(str, ROUTERBENCH), "--cv", "2", "--strategy", "utility"]
    assert main([*argv, "--sweep", "12", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["aiq"] > summary["zero_router_aiq"]
    lines = (tmp_path / "point00.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(1 for _ in lines)
    assert json.loads(lines[0])["tried"][0] in summary["models"]


@needs_gsm8k
def test_cross_validated_router_recovers_more_than_random_on_gsm8k(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--data", str(GSM8K), *PRICES, "--cv", "3", "--strategy", "cost_optimized"]
    assert main([*argv, "--sweep", "10", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["two_model"]["apgr"] > 0.5  # random routing recovers exactly 0.5
