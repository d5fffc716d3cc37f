"""Learning from your own traffic: feedback recorded in the ledger, then
``modelmuxer train --from-ledger``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _ledger_support import sqlite_settings
from _support import MakeMuxer

from modelmuxer.analysis import analyze
from modelmuxer.cli import main
from modelmuxer.config import MuxerSettings
from modelmuxer.errors import ConfigError
from modelmuxer.learning.artifact import load_router
from modelmuxer.learning.feedback import rows_table
from modelmuxer.types import Request

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SMALL, BIG = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
EASY = "What is the capital city of country number {k}? Reply with one word."
HARD = "Prove theorem {k}: the integral of the derivative equals the difference, step by step."


def test_train_from_ledger_learns_from_feedback(
    make_muxer: MakeMuxer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELMUXER_HOME", str(tmp_path / "home"))
    ledger_settings = sqlite_settings(tmp_path, store_prompts=True)
    settings = MuxerSettings(ledger=ledger_settings, load_entrypoints=False)
    muxer = make_muxer([SMALL, BIG], settings=settings)
    ledger = muxer.ledger
    assert ledger is not None
    for k in range(12):
        for model in (SMALL, BIG):
            easy = muxer.complete(EASY.format(k=k), model=model)
            ledger.record_feedback(easy.request_id, 1.0, kind="thumbs")
            hard = muxer.complete(HARD.format(k=k), model=model)
            ledger.record_feedback(hard.request_id, 1.0 if model == BIG else 0.0)
    ledger.flush()
    out = tmp_path / "router.npz"
    url = ledger_settings.resolved_url()
    assert main(["train", "--from-ledger", url, "--out", str(out), "--c", "10"]) == 0
    router = load_router(out)
    assert set(router.models) == {SMALL, BIG}
    text = HARD.format(k=99)
    features = analyze(Request.model_validate({"messages": [{"role": "user", "content": text}]}))
    small, big = router.predictor.predict(text, features, [(SMALL, 0.7), (BIG, 0.7)])
    assert big > small


def test_train_from_a_mistyped_ledger_path_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train --from-ledger`` only reads: a path with no ledger is an error, and no empty
    ledger file (nor its directory) is left there."""
    missing = tmp_path / "no-such-dir" / "ledger.db"
    code = main(
        ["train", "--from-ledger", f"sqlite:///{missing}", "--out", str(tmp_path / "r.npz")]
    )
    assert code != 0
    assert "no ledger at" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_an_empty_ledger_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="record_feedback"):
        rows_table([])


def test_feedback_takes_numpy_scores(
    make_muxer: MakeMuxer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELMUXER_HOME", str(tmp_path / "home"))
    settings = MuxerSettings(ledger=sqlite_settings(tmp_path), load_entrypoints=False)
    muxer = make_muxer([SMALL, BIG], settings=settings)
    assert muxer.ledger is not None
    done = muxer.complete(EASY.format(k=1), model=SMALL)
    muxer.ledger.record_feedback(done.request_id, np.float32(0.25))  # e.g. a metric's result
    muxer.ledger.record_feedback(done.request_id, np.int64(1))
    (row,) = muxer.ledger.training_rows()
    assert row.score == pytest.approx(0.625)
