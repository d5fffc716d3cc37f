"""The getting-started pages run as written, offline, and print what they show.

Every ``python`` block of ``docs/getting-started/*.md`` runs (a page's blocks in order, in one
interpreter), and where the page shows an ``Output`` block, the block prints exactly that. The
``pip install`` lines of these pages and of the README name packages and extras that exist.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from _codeblocks import ROOT, blocks, normalise, run_steps, steps

PAGES = sorted((ROOT / "docs" / "getting-started").glob("*.md"))
README = ROOT / "README.md"
FRAMEWORK_PAGES = {"core", "langchain", "llamaindex", "litellm"}


def _packages() -> dict[str, set[str]]:
    """Every package of the workspace and its extras."""
    found = {}
    for pyproject in (ROOT / "packages").glob("*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        found[project["name"]] = set(project.get("optional-dependencies", {}))
    return found


def test_there_is_a_page_per_framework() -> None:
    assert {page.stem for page in PAGES} >= FRAMEWORK_PAGES


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_code_runs_and_prints_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    page_steps = steps(page.read_text())
    assert page_steps, f"{page.name} has no python block"
    outputs = run_steps(page_steps, tmp_path)
    shown = 0
    for step, printed in zip(page_steps, outputs, strict=True):
        if step.expected is None:
            continue
        shown += 1
        assert normalise(printed) == normalise(step.expected), (
            f"{page.name}, the block at line {step.code.line} printed:\n{printed}\n"
            "update the page's Output block if the change is intended"
        )
    assert shown, f"{page.name} shows no Output block: say what the reader will see"


def _install_lines(text: str) -> list[str]:
    lines = []
    for block in blocks(text):
        if block.lang in {"bash", "sh", "console"}:
            lines += [ln for ln in block.body.splitlines() if re.match(r"\s*pip install ", ln)]
    return lines


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda p: p.stem)
def test_install_lines_name_real_packages_and_extras(page: Path) -> None:
    known = _packages()
    named = []
    for line in _install_lines(page.read_text()):
        for word in shlex.split(line.split("#", 1)[0])[2:]:
            name, _, extras = word.partition("[")
            if word.startswith("-") or name not in known:
                continue  # an option, or a third-party package (langchain...)
            named.append(name)
            for extra in filter(None, extras.rstrip("]").split(",")):
                assert extra in known[name], f"{page.name}: {name} has no extra {extra!r}"
    assert named, f"{page.name} should say which of the packages to install"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_configuration_blocks_parse(page: Path) -> None:
    for block in blocks(page.read_text()):
        if block.lang == "yaml":
            assert isinstance(yaml.safe_load(block.body), dict), f"line {block.line}"
        elif block.lang == "toml":
            tomllib.loads(block.body)
