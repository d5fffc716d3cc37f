"""The README: the two commands first, examples that run offline, figures taken from the results.

Each ``python`` block of the README runs on its own (a reader copies one example, not the page).
Every number in its "Measured" section is one that ``benchmarks/RESULTS.md`` or
``docs/routing.md`` states, so the headline figures cannot drift from how they were measured.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _codeblocks import ROOT, Step, blocks, run_steps, steps

README = ROOT / "README.md"
TWO_COMMANDS = (
    "python3.11 -m pip install -q uv && uv run --frozen modelmuxer demo",
    "python3.11 -m pip install -q uv && uv run --frozen tox",
)
FIGURE_SOURCES = (ROOT / "benchmarks" / "RESULTS.md", ROOT / "docs" / "routing.md")


def _text() -> str:
    return README.read_text()


def _examples() -> list[Step]:
    return steps(_text())


def _section(title: str) -> str:
    text = _text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_two_commands_come_first() -> None:
    first = blocks(_text())[0]
    assert first.lang == "bash"
    assert [line.split("#")[0].strip() for line in first.body.splitlines()] == list(TWO_COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("example", _examples(), ids=lambda s: f"line{s.code.line}")
def test_example_runs_on_its_own(example: Step, tmp_path: Path) -> None:
    [printed] = run_steps([example], tmp_path)
    assert printed.strip(), "an example should print what it did"


def test_there_is_an_example_per_framework() -> None:
    code = [step.code.body for step in _examples()]
    for needle in ("from modelmuxer import Muxer", "ChatModelMuxer", "ModelMuxerLLM", "register("):
        assert any(needle in body for body in code), needle
    for body in code:
        assert len(body.strip().splitlines()) <= 30, "keep each example short"


def test_features_table_names_each_feature() -> None:
    rows = [line.split("|") for line in _section("Features").lower().splitlines()]
    first_cells = [row[1] for row in rows if len(row) > 2]
    for feature in (
        "routing strategies",
        "learned router",
        "cascade",
        "ledger",
        "budgets",
        "caches",
        "rate limits",
        "pii redaction",
        "policies",
        "audit log",
        "observability",
        "adapters",
    ):
        assert any(feature in cell for cell in first_cells), feature


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def test_headline_figures_come_from_the_measurements() -> None:
    measured = _section("Measured")
    sources = _numbers("\n".join(path.read_text() for path in FIGURE_SOURCES))
    # the links and the image name carry digits of their own
    prose = re.sub(r"\]\([^)]*\)", "]", measured)
    missing = sorted(_numbers(prose) - sources, key=float)
    assert not missing, (
        f"figures in the README that RESULTS.md / routing.md do not state: {missing}"
    )
    assert "benchmarks/RESULTS.md" in measured
    assert "docs/routing.md" in measured


def test_the_cost_quality_plot_is_shown_and_exists() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _section("Measured"))
    assert images, "the cost-quality plot"
    for image in images:
        assert (ROOT / image).is_file(), image
