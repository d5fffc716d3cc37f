"""``modelmuxer train`` and ``modelmuxer eval`` end to end on synthetic outcome CSVs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_learning import MODELS, write_routerbench, write_two_model

from modelmuxer.cli import main
from modelmuxer.cli.train import parse_prices
from modelmuxer.errors import ConfigError
from modelmuxer.learning.artifact import load_router

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PRICES = ["--price", "weak-model=0.2", "--price", "strong-model=20"]
PRICED = ("weak-model", "strong-model")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_routerbench(tmp_path_factory.mktemp("cli") / "bench.csv")


@pytest.fixture(scope="module")
def router(data: Path) -> Path:
    out = data.parent / "router.npz"
    assert main(["train", "--data", str(data), "--out", str(out), "--c", "10"]) == 0
    return out


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_train_writes_a_router_file(router: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert router.stat().st_size > 0


@pytest.mark.parametrize("strategy", ["hybrid", "cost_optimized", "quality_first", "utility"])
def test_eval_writes_one_jsonl_per_point_with_the_models_tried(
    data: Path, router: Path, tmp_path: Path, strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), "--router", str(router), "--strategy", strategy]
    assert main([*argv, "--sweep", "4", "--out", str(out)]) == 0
    files = sorted(out.glob("point*.jsonl"))
    assert [f.name for f in files] == [f"point{n:02d}.jsonl" for n in range(4)]
    lines = _lines(files[0])
    assert len(lines) == 40
    assert set(lines[0]) == {"sample_id", "prompt", "tried"}
    assert lines[0]["sample_id"] == "synthetic.0"
    assert lines[0]["prompt"] == repr(
        ["What is the capital city of country number 0? Reply with one word."]
    )
    assert all(len(line["tried"]) == 1 and line["tried"][0] in MODELS for line in lines)  # type: ignore[arg-type,index]
    printed = capsys.readouterr().out
    assert "AIQ" in printed
    assert "point03" in printed


def test_eval_hybrid_sends_hard_prompts_to_the_strong_model(
    data: Path, router: Path, tmp_path: Path
) -> None:
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), "--router", str(router), "--strategy", "hybrid"]
    assert main([*argv, "--sweep", "3", "--out", str(out)]) == 0
    middle = _lines(out / "point01.jsonl")  # cost_weight 0.5
    hard = [line["tried"] for line in middle if "Prove" in str(line["prompt"])]
    easy = [line["tried"] for line in middle if "capital" in str(line["prompt"])]
    assert all(t == ["big-model"] for t in hard)
    assert all(t != ["big-model"] for t in easy)


def test_eval_cascade_lists_every_model_called_in_order(
    data: Path, router: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), "--router", str(router), "--strategy", "cascade"]
    assert main([*argv, "--sweep", "3", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["points"]) == 3
    tried = [line["tried"] for line in _lines(out / "point02.jsonl")]
    assert any(len(t) > 1 for t in tried)  # type: ignore[arg-type]
    for t in tried:
        assert isinstance(t, list)
        costs = [MODELS.index(m) for m in t]
        assert costs == sorted(costs)  # cheap to strong


def test_eval_cross_validates_and_plots(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "curve.png"
    argv = ["eval", "--data", str(data), "--cv", "2", "--strategy", "cost_optimized"]
    assert main([*argv, "--sweep", "3", "--out", str(tmp_path / "p"), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_on_two_model_data_prints_apgr_and_cpt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_two_model(tmp_path / "two.csv")
    router = tmp_path / "two.npz"
    assert main(["train", "--data", str(data), *PRICES, "--out", str(router)]) == 0
    argv = ["eval", "--data", str(data), *PRICES, "--router", str(router), "--sweep", "5"]
    assert main([*argv, "--strategy", "cost_optimized", "--out", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    assert "APGR" in printed
    assert "CPT(50%)" in printed
    assert "PGR" in printed


def test_two_model_data_without_prices_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_two_model(tmp_path / "two.csv")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r.npz")]) == 2
    assert "--price" in capsys.readouterr().err


def test_bad_price_and_unknown_strategy_are_usage_errors(
    data: Path, router: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "r.npz"), "--price", "x"]
    assert main(argv) == 2
    assert "MODEL=USD" in capsys.readouterr().err
    argv = ["eval", "--data", str(data), "--router", str(router), "--out", str(tmp_path)]
    assert main([*argv, "--strategy", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_eval_utility_cascade_escalates_only_when_the_judge_doubts(
    data: Path, router: Path, tmp_path: Path
) -> None:
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), "--router", str(router), "--strategy", "utility_cascade"]
    assert main([*argv, "--sweep", "5", "--out", str(out)]) == 0
    for path in sorted(out.glob("point*.jsonl")):
        for line in _lines(path):
            tried = line["tried"]
            assert isinstance(tried, list)
            assert 1 <= len(tried) <= 2
            if len(tried) == 2:  # escalated from a cheaper to a dearer model
                assert MODELS.index(tried[0]) < MODELS.index(tried[1])


def test_training_without_scikit_learn_says_which_extra_to_install(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)  # as if not installed
    out = tmp_path / "router.npz"
    assert main(["train", "--data", str(data), "--out", str(out)]) == 2
    assert "pip install 'modelmuxer[train]'" in capsys.readouterr().err
    assert not out.exists()


#: Run first in a fresh interpreter: scikit-learn and scipy (which comes with it) cannot be
#: imported, as where the ``train`` extra is not installed.
WITHOUT_TRAIN_EXTRA = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sklearn", "scipy"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def _without_train_extra(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAIN_EXTRA + code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


def test_the_cli_without_the_train_extra_says_which_extra_to_install(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "router.npz"
    for argv in (
        ["train", "--data", str(data), "--out", str(out)],
        ["eval", "--data", str(data), "--cv", "2", "--out", str(tmp_path / "points")],
    ):
        done = _without_train_extra(f"from modelmuxer.cli import main\nsys.exit(main({argv!r}))")
        assert done.returncode == 2, done.stderr
        assert "pip install 'modelmuxer[train]'" in done.stderr
        assert "Traceback" not in done.stderr
    assert not out.exists()


def test_routing_with_a_trained_router_does_not_need_scikit_learn(router: Path) -> None:
    """scikit-learn is the ``train`` extra: a fresh interpreter where it cannot be imported
    still loads the trained router and routes with it."""
    code = f"""
from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
muxer = Muxer(
    ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
    settings=MuxerSettings(router={str(router)!r}),
)
print(muxer.route("Prove that there are infinitely many primes.").model)
print("sklearn" in sys.modules or "scipy" in sys.modules)
"""
    done = _without_train_extra(code)
    assert done.returncode == 0, done.stderr
    model, imported = done.stdout.split()
    assert model.startswith("offline/openai/")
    assert imported == "False"


def test_eval_on_files_with_different_models_tries_only_each_rows_own_models(
    data: Path, router: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = write_two_model(tmp_path / "two.csv")
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), str(two), *PRICES, "--router", str(router)]
    assert main([*argv, "--strategy", "utility", "--sweep", "3", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert all(p["accuracy"] == p["accuracy"] for p in summary["points"])  # not NaN
    assert summary["aiq"] == summary["aiq"]
    for line in _lines(out / "point00.jsonl"):
        own = MODELS if str(line["sample_id"]).startswith("synthetic") else PRICED
        assert set(line["tried"]) <= set(own)  # type: ignore[arg-type]


def test_training_twice_on_the_same_data_writes_the_same_file(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # reproducible builds' convention
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    for out in (first, second):
        assert main(["train", "--data", str(data), "--out", str(out), "--seed", "3"]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert load_router(first).provenance["trained_at"] == "2026-01-01T00:00:00+00:00"


def test_eval_plot_without_matplotlib_says_which_extra_to_install_before_any_work(
    data: Path,
    router: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    out = tmp_path / "points"
    argv = ["eval", "--data", str(data), "--router", str(router), "--out", str(out)]
    assert main([*argv, "--plot", str(tmp_path / "curve.png")]) == 2
    assert "pip install 'modelmuxer[plot]'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("item", ["m=-1", "m=nan", "m=inf", "m=", "=1", " =1"])
def test_a_price_that_is_negative_or_not_a_finite_number_is_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="MODEL=USD_PER_MILLION_TOKENS"):
        parse_prices([item])


def test_price_names_are_stripped_of_spaces() -> None:
    assert parse_prices([" weak-model = 0.2 "]) == {"weak-model": 0.2}


def test_more_folds_than_distinct_prompts_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_routerbench(tmp_path / "small.csv", n=6)
    argv = ["eval", "--data", str(data), "--cv", "7", "--out", str(tmp_path / "p")]
    assert main(argv) == 2
    assert "--cv 7 needs at least 7 distinct prompts; the data has 6" in capsys.readouterr().err


def test_eval_out_naming_a_file_is_a_usage_error(
    data: Path, router: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    argv = ["eval", "--data", str(data), "--router", str(router), "--out", str(taken)]
    assert main(argv) == 2
    assert "--out" in capsys.readouterr().err
