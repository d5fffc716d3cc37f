"""The ``modelmuxer`` command line, run in-process through ``main(argv)`` and once as a process."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelmuxer.cli import main
from modelmuxer.cli.prompts import DEMO_MODELS, demo_prompts
from modelmuxer.cli.table import render_table, truncate
from modelmuxer.types import Decision

STRATEGIES = ("hybrid", "cost_optimized", "quality_first", "cascade")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_json() -> dict[str, Any]:
    """The full demo under every strategy, as ``--json`` prints it (run once for the module)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["demo", "--json"]) == 0
    data: dict[str, Any] = json.loads(buffer.getvalue())
    return data


# -- demo --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_demo_prints_table_and_summary_for_each_strategy(
    capsys: pytest.CaptureFixture[str], strategy: str
) -> None:
    code, out, err = run(capsys, "demo", "--strategy", strategy)
    assert code == 0, err
    assert f"== strategy: {strategy} ==" in out
    for header in ("category", "prompt", "chosen model", "cost", "reason"):
        assert header in out
    assert f"{strategy}: $" in out  # the summary line
    assert "(strongest)" in out
    assert "== comparison ==" in out
    other = [s for s in STRATEGIES if s != strategy]
    assert not any(f"== strategy: {s} ==" in out for s in other)


def test_demo_covers_the_whole_prompt_set(demo_json: dict[str, Any]) -> None:
    n = len(demo_prompts())
    assert n >= 30
    assert [run["strategy"] for run in demo_json["strategies"]] == list(STRATEGIES)
    assert len(demo_json["strongest"]["rows"]) == n
    for run in demo_json["strategies"]:
        assert [row["index"] for row in run["rows"]] == list(range(1, n + 1))
        assert all(row["model"] in DEMO_MODELS for row in run["rows"])
        assert sum(run["models"].values()) == n


def test_demo_totals_are_the_sum_of_rows(demo_json: dict[str, Any]) -> None:
    strongest = demo_json["strongest"]
    assert strongest["total_cost_usd"] == pytest.approx(
        sum(r["cost_usd"] for r in strongest["rows"])
    )
    assert all(r["cost_usd"] > 0 for r in strongest["rows"])
    for run in demo_json["strategies"]:
        rows = run["rows"]
        assert run["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows))
        assert run["strongest_total_cost_usd"] == strongest["total_cost_usd"]
        expected = 100.0 * (1.0 - run["total_cost_usd"] / strongest["total_cost_usd"])
        assert run["saved_pct"] == pytest.approx(expected, abs=0.01)


def test_demo_hybrid_saves_against_the_strongest_model(demo_json: dict[str, Any]) -> None:
    strongest = demo_json["strongest"]
    # the strongest is the candidate with the highest quality prior
    assert strongest["model"] == "offline/anthropic/claude-sonnet-4-5"
    hybrid = next(r for r in demo_json["strategies"] if r["strategy"] == "hybrid")
    assert strongest["total_cost_usd"] >= hybrid["total_cost_usd"]
    assert hybrid["saved_pct"] > 0


def test_demo_cascade_escalates_the_scripted_refusals(demo_json: dict[str, Any]) -> None:
    scripted = demo_json["scripted_refusals"]
    assert scripted["prompts"], "the demo must script at least one refusal"
    cascade = next(r for r in demo_json["strategies"] if r["strategy"] == "cascade")
    rows = {row["index"]: row for row in cascade["rows"]}
    for index in scripted["prompts"]:
        row = rows[index]
        assert row["chain"][0] in scripted["models"]
        assert len(row["chain"]) >= 2
        assert row["model"] not in scripted["models"]
        assert not row["refused"]
        assert row["reason"].startswith("escalated: judge scored")
    assert cascade["escalations"] >= len(scripted["prompts"])
    # Unscripted prompts the cheap model answers are accepted without escalating.
    assert any(len(row["chain"]) == 1 for row in cascade["rows"])


def test_demo_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    results = []
    for _ in range(2):
        code, out, _err = run(capsys, "demo", "--json", "--limit", "6")
        assert code == 0
        data = json.loads(out)
        data.pop("elapsed_s")
        data["operations"].pop("ledger_url")  # a new temporary directory each run
        results.append(data)
    assert results[0] == results[1]
    assert len(results[0]["strongest"]["rows"]) == 6


def test_demo_shows_the_cache_the_budget_and_the_ledger(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    code, out, _err = run(capsys, "demo", "--json", "--limit", "8", "--ledger", url)
    assert code == 0
    ops = json.loads(out)["operations"]
    assert ops["ledger_url"] == url
    assert ops["cache"]["hits"] == 8  # the second pass of the same prompts
    assert ops["cache"]["saved_usd"] == pytest.approx(ops["first_pass_usd"])
    budget = ops["budget"]
    assert Decimal(budget["spent_usd"]) <= Decimal(budget["limit_usd"])
    assert budget["answered"] + budget["refused"] == 8
    assert budget["refused"] > 0  # the demo's budget is meant to bind
    # the ledger holds every call: two passes for one team, one (answered or refused) for the other
    assert ops["ledger"]["calls"] == 3 * 8
    code, report, _err = run(capsys, "report", "--url", url, "--by", "org", "--format", "json")
    assert code == 0
    orgs = {line["key"]: line for line in json.loads(report)["lines"]}
    assert Decimal(orgs["frugal-team"]["cost_usd"]) == Decimal(budget["spent_usd"])


def test_demo_with_an_unreachable_ledger_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none"
    code, out, err = run(capsys, "demo", "--limit", "1", "--ledger", url)
    assert code == 2
    assert err.startswith("error: cannot reach the demo's ledger postgresql+asyncpg://nobody:***@")
    assert err.count("\n") == 1
    assert "secret" not in err
    assert out == ""


def test_demo_footnote_discloses_the_scripted_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "demo", "--strategy", "cascade")
    assert code == 0
    assert "scripted to refuse" in out
    assert ">gpt-4o" in out or ">claude" in out  # a chain shown as cheap>strong


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [("demo", "--strategy", "nope"), ("route", "hello", "--strategy", "nope")]
)
def test_unknown_strategy_exits_2_listing_the_known_ones(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ")
    assert "'nope'" in err
    for name in STRATEGIES:
        assert name in err
    assert "Traceback" not in err
    assert out == ""


def test_no_eligible_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "route", "hi", "--max-tokens", "100000000")
    assert code == 2
    assert err.count("\n") == 1
    assert "no candidate model can answer" in err
    assert "offline/openai/gpt-4o-mini" in err


def test_unpriced_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "models", "--models", "offline/acme/not-a-real-model")
    assert code == 2
    assert err.startswith("error: ")
    assert "no known price" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "route", "x", "--models", "a", "--config", "b.toml")[0] == 2
    assert run(capsys, "demo", "--limit", "0")[0] == 2
    assert run(capsys)[0] == 2  # a command is required


# -- route -------------------------------------------------------------------------------------


def test_route_json_names_an_eligible_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "route", "What is the capital of France?", "--json")
    assert code == 0, err
    decision = Decision.model_validate(json.loads(out))
    assert decision.strategy == "hybrid"
    assert decision.model in DEMO_MODELS
    chosen = decision.estimate(decision.model)
    assert chosen is not None
    assert chosen.excluded is None
    assert {c.model for c in decision.candidates} == set(DEMO_MODELS)


def test_route_text_shows_reason_and_candidate_table(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = "Prove that there are infinitely many primes."
    code, out, _err = run(capsys, "route", prompt, "--strategy", "cascade")
    assert code == 0
    assert "strategy: cascade" in out
    assert "chain:" in out
    assert " -> " in out
    assert "reason:" in out
    for header in ("est. quality", "est. cost", "est. latency", "score", "excluded"):
        assert header in out
    assert all(model in out for model in DEMO_MODELS)


def test_route_tools_exclude_models_without_tools(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]}
        )
    )
    models = ["offline/mistral/mistral-tiny", "offline/openai/gpt-4o-mini"]
    argv = ["route", "Weather in Oslo?", "--tools-json", str(tools), "--models", *models]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    decision = Decision.model_validate(json.loads(out))
    assert decision.model == "offline/openai/gpt-4o-mini"
    tiny = decision.estimate("offline/mistral/mistral-tiny")
    assert tiny is not None
    assert tiny.excluded is not None
    assert "tools" in tiny.excluded


def test_route_bad_tools_file_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "tools.json"
    bad.write_text("{not json")
    code, _out, err = run(capsys, "route", "hi", "--tools-json", str(bad))
    assert code == 2
    assert "not valid JSON" in err
    code, _out, err = run(capsys, "route", "hi", "--tools-json", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read tools file" in err


def test_route_with_litellm_ids_calls_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["route", "hello there", "--models", "openai/gpt-4o-mini", "openai/gpt-4o", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    decision = Decision.model_validate(json.loads(out))
    assert decision.model in {"openai/gpt-4o-mini", "openai/gpt-4o"}
    assert all(c.cost_usd > 0 for c in decision.candidates)


def test_route_with_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "muxer.toml"
    config.write_text(
        'strategy = "quality_first"\nload_entrypoints = false\n\n'
        '[[models]]\nid = "offline/openai/gpt-4o-mini"\n\n'
        '[[models]]\nid = "offline/openai/gpt-4o"\n'
    )
    code, out, err = run(capsys, "route", "Explain TCP vs UDP", "--config", str(config), "--json")
    assert code == 0, err
    decision = Decision.model_validate(json.loads(out))
    assert decision.strategy == "quality_first"
    assert decision.model == "offline/openai/gpt-4o"


# -- models ------------------------------------------------------------------------------------


def test_models_lists_the_cards(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "models", "--json")
    assert code == 0
    cards = json.loads(out)
    assert [c["id"] for c in cards] == list(DEMO_MODELS)
    mini = cards[0]
    assert mini["input_cost_per_token"] == pytest.approx(0.15e-6)
    code, out, _err = run(capsys, "models")
    assert code == 0
    assert "$/Mtok in" in out
    assert "0.15" in out
    assert "128,000" in out


# -- help, version, console script -------------------------------------------------------------


@pytest.mark.parametrize("argv", [(), ("demo",), ("route",), ("models",)])
def test_help_exits_0(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, out, _err = run(capsys, *argv, "--help")
    assert code == 0
    assert out.startswith("usage: modelmuxer")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import modelmuxer

    code, out, _err = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"modelmuxer {modelmuxer.__version__}"


@pytest.mark.slow
def test_console_script_and_module_run() -> None:
    script = Path(sys.executable).with_name("modelmuxer")
    commands = [[sys.executable, "-m", "modelmuxer.cli", "--help"]]
    if script.exists():
        commands.append([str(script), "--help"])
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "demo" in proc.stdout
        assert "route" in proc.stdout
        assert "models" in proc.stdout


# -- table helpers -----------------------------------------------------------------------------


def test_truncate_and_render_table() -> None:
    assert truncate("a  b\nc", 10) == "a b c"
    assert truncate("abcdefghijkl", 8) == "abcde..."
    assert len(truncate("x" * 100, 40)) == 40
    table = render_table(["name", "cost"], [["a", "$1"], ["long-name", "$10"]], right=(1,))
    lines = table.splitlines()
    assert lines[0] == "name       cost"
    assert lines[2] == "a            $1"
    assert lines[3] == "long-name   $10"
    with pytest.raises(ValueError, match="cells"):
        render_table(["a", "b"], [["only one"]])
