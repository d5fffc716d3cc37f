"""Fenced code blocks of Markdown pages, and running a page's Python blocks as one program.

A page's ``python`` blocks run in order in one fresh interpreter (as a reader pasting them into
one session would), offline: the API keys are removed from the environment, so ``offline/...``
models and ``mock_response`` deployments are all that can answer. A ``text`` block titled
``Output`` right after a Python block is what that block prints; the test compares them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY")
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SEPARATOR = "\x1e-- end of block --\x1e"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its title (``title="..."``), its text and first line."""

    lang: str
    title: str
    body: str
    line: int


@dataclass(frozen=True)
class Step:
    """A Python block and the output the page says it prints (``None``: not stated)."""

    code: Block
    expected: str | None


def blocks(text: str) -> list[Block]:
    """Every fenced block of a page, in order (unindented fences only)."""
    found = []
    for match in _FENCE.finditer(text):
        info = match["info"].strip()
        lang = info.split(" ", 1)[0] if info else ""
        title = re.search(r'title="([^"]*)"', info)
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(lang, title[1] if title else "", match["body"], line))
    return found


def steps(text: str) -> list[Step]:
    """The page's Python blocks, each with the ``Output`` block that follows it, if any."""
    result: list[Step] = []
    for block in blocks(text):
        if block.lang == "python":
            result.append(Step(block, None))
        elif block.lang == "text" and block.title == "Output" and result:
            if result[-1].expected is not None:
                raise ValueError(f"line {block.line}: two Output blocks after one Python block")
            result[-1] = Step(result[-1].code, block.body)
    return result


def offline_env(home: Path) -> dict[str, str]:
    """The environment of a run: no API keys, the ledger's default home in a temp directory."""
    env = {k: v for k, v in os.environ.items() if k not in API_KEYS}
    env["MODELMUXER_HOME"] = str(home)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # never fetch litellm's price map
    env["MODELMUXER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_steps(
    page_steps: list[Step], workdir: Path, *, python: str = sys.executable, timeout: float = 300
) -> list[str]:
    """Run the steps as one program in ``workdir`` with ``python`` (isolated mode: no
    ``PYTHONPATH``, no user site, not the script's folder); what each step printed, in order."""
    program = []
    for step in page_steps:
        program.append(step.code.body)
        program.append(
            f"import sys as _s; _s.stdout.write({_SEPARATOR!r} + '\\n'); _s.stdout.flush()"
        )
    script = workdir / "page.py"
    script.write_text("\n".join(program))
    result = subprocess.run(
        [python, "-I", str(script)],
        cwd=workdir,
        env=offline_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"the page's code failed (exit {result.returncode}):\n{result.stderr}")
    pieces = result.stdout.split(_SEPARATOR + "\n")
    if len(pieces) != len(page_steps) + 1:
        raise AssertionError(f"expected {len(page_steps)} blocks to finish:\n{result.stdout}")
    return pieces[:-1]


def normalise(text: str) -> str:
    """Output as compared: trailing spaces and blank lines at either end do not count."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())
