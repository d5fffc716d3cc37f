"""``import modelmuxer`` stays light, and the public API is what ``__all__`` says."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import modelmuxer

HEAVY = ("litellm", "pydantic_settings", "langchain_core", "llama_index")


def _imported_after(code: str) -> list[str]:
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} "
        "if any(k == m or k.startswith(m + '.') for k in sys.modules))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_modelmuxer_imports_no_heavy_module() -> None:
    assert _imported_after("import modelmuxer") == []


def test_import_every_public_module_imports_no_heavy_module() -> None:
    code = (
        "import modelmuxer, modelmuxer.types, modelmuxer.errors, modelmuxer.hookspecs, "
        "modelmuxer.catalog, modelmuxer.pipeline, modelmuxer.strategies, modelmuxer.plugins"
    )
    assert _imported_after(code) == []


def test_an_offline_muxer_never_imports_litellm() -> None:
    code = (
        "from modelmuxer import Muxer\n"
        "m = Muxer(['offline/openai/gpt-4o-mini', 'offline/openai/gpt-4o'], "
        "load_entrypoints=False)\n"
        "m.complete('What is the capital of France?')\n"
        "m.close()"
    )
    # Settings come from the environment (pydantic-settings); prices from litellm's JSON file,
    # read without importing litellm.
    assert "litellm" not in _imported_after(code)


def test_the_price_map_is_not_read_at_import() -> None:
    probe = (
        "import modelmuxer\n"
        "from modelmuxer.catalog import load_price_map\n"
        "print(load_price_map.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize(
    "module",
    [
        "modelmuxer",
        "modelmuxer.types",
        "modelmuxer.errors",
        "modelmuxer.catalog",
        "modelmuxer.pipeline",
        "modelmuxer.plugins",
        "modelmuxer.hookspecs",
        "modelmuxer.strategies",
        "modelmuxer.context",
        "modelmuxer.muxer",
        "modelmuxer.config",
    ],
)
def test_all_names_resolve(module: str) -> None:
    mod = importlib.import_module(module)
    names = mod.__all__
    assert len(names) == len(set(names)), "duplicates in __all__"
    for name in names:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which does not exist"


def test_top_level_api() -> None:
    for name in ("Muxer", "Completion", "Decision", "ModelSpec", "hookimpl", "NoEligibleModel"):
        assert name in modelmuxer.__all__
    assert modelmuxer.__version__
    assert modelmuxer.Muxer.__module__ == "modelmuxer.muxer"
