"""Entry-point plugins: discovered through importlib.metadata, switched off by flag or env.

Nothing is installed: each test puts a fake distribution (a ``*.dist-info`` directory with an
``entry_points.txt``) and the example plugin's source tree on ``sys.path``, which is all
``importlib.metadata`` needs to discover the ``modelmuxer`` entry point.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from _support import MakeMuxer

from modelmuxer import NoEligibleModel, PluginError
from modelmuxer.config import MuxerSettings
from modelmuxer.plugins import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "custom_policy_plugin" / "src"
MODELS = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o", "offline/ollama/llama3.1"]
PROMPT = "What is the capital of France?"


def _fake_distribution(root: Path, name: str, entry_points: dict[str, str]) -> None:
    dist_info = root / f"{name}-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example policy package, discoverable as if installed; autoload switched back on."""
    _fake_distribution(
        tmp_path, "modelmuxer_policy_example", {"confidential": "modelmuxer_policy_example:plugin"}
    )
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    return importlib.import_module("modelmuxer_policy_example")


def test_an_entry_point_plugin_is_loaded(make_muxer: MakeMuxer, example: ModuleType) -> None:
    muxer = make_muxer(MODELS, load_entrypoints=True)
    assert muxer.plugins.get_plugin("confidential") is example.plugin
    decision = muxer.route(PROMPT, tags=["confidential"])
    assert decision.models == ["offline/ollama/llama3.1"]
    excluded = {c.model: c.excluded for c in decision.candidates if c.excluded}
    assert excluded == {
        "offline/openai/gpt-4o-mini": example.CONFIDENTIAL_REASON,
        "offline/openai/gpt-4o": example.CONFIDENTIAL_REASON,
    }


def test_entry_points_load_by_default(example: ModuleType) -> None:
    from modelmuxer import Muxer

    muxer = Muxer(MODELS)  # settings.load_entrypoints defaults to true
    assert muxer.plugins.get_plugin("confidential") is example.plugin


def test_load_entrypoints_false_switches_them_off(
    make_muxer: MakeMuxer, example: ModuleType
) -> None:
    muxer = make_muxer(MODELS, load_entrypoints=False)
    assert muxer.plugins.get_plugin("confidential") is None
    assert muxer.route(PROMPT, tags=["confidential"], strategy="quality_first").models == [
        "offline/openai/gpt-4o"
    ]


def test_the_settings_can_switch_them_off(make_muxer: MakeMuxer, example: ModuleType) -> None:
    settings = MuxerSettings(models=MODELS, load_entrypoints=False)
    muxer = make_muxer(None, settings=settings, load_entrypoints=None)
    assert muxer.plugins.get_plugin("confidential") is None


def test_the_environment_switches_them_off(
    make_muxer: MakeMuxer, example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    muxer = make_muxer(MODELS, load_entrypoints=True)
    assert muxer.plugins.get_plugin("confidential") is None


def test_an_explicit_plugin_works_without_entry_points(make_muxer: MakeMuxer) -> None:
    importlib.invalidate_caches()
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE_SRC))
        example = importlib.import_module("modelmuxer_policy_example")
    muxer = make_muxer(MODELS, plugins=[example.RoutingPolicy()])
    with pytest.raises(NoEligibleModel, match="only self-hosted"):
        muxer.route(PROMPT, tags=["confidential"], routing={"deny": ["offline/ollama/llama3.1"]})


def test_a_broken_entry_point_is_a_plugin_error(
    make_muxer: MakeMuxer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "broken_plugin", {"broken": "no_such_module_xyz:plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginError, match="no_such_module_xyz"):
        make_muxer(MODELS, load_entrypoints=True)
    make_muxer(MODELS, load_entrypoints=False)  # the switch skips it


def test_an_entry_point_plugin_with_a_misspelt_hook_is_a_plugin_error(
    make_muxer: MakeMuxer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mm_typo_plugin.py").write_text(
        "from modelmuxer import hookimpl\n\n\n"
        "@hookimpl\n"
        "def modelmuxer_filter_candidate(ctx, candidates):\n"
        "    return None\n",
        encoding="utf-8",
    )
    _fake_distribution(tmp_path, "typo_plugin", {"typo": "mm_typo_plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginError, match="modelmuxer_filter_candidate"):
        make_muxer(MODELS, load_entrypoints=True)
