"""Configuration: one typed settings object, from code, MODELMUXER_* variables or a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _support import OFFLINE_MODELS

from modelmuxer import ConfigError, ModelSpec, Muxer, ProviderTimeout
from modelmuxer.config import MuxerSettings, load_settings
from modelmuxer.strategies.base import StrategySettings

MODELS_JSON = json.dumps(
    ["offline/openai/gpt-4o-mini", {"id": "offline/openai/gpt-4o", "quality": 0.95}]
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MODELMUXER_* setting from the outside leaks in (the autoload switch stays)."""
    for name in list(MuxerSettings.model_fields):
        monkeypatch.delenv(f"MODELMUXER_{name.upper()}", raising=False)


def test_defaults() -> None:
    settings = MuxerSettings()
    assert settings.models == []
    assert settings.strategy == "hybrid"
    assert settings.timeout_s == 60.0
    assert settings.load_entrypoints is True
    assert settings.strategy_settings() == StrategySettings()


def test_models_may_be_ids_or_objects() -> None:
    settings = MuxerSettings(models=["openai/gpt-4o-mini", {"id": "openai/gpt-4o", "quality": 0.9}])
    assert settings.models == [
        ModelSpec(id="openai/gpt-4o-mini"),
        ModelSpec(id="openai/gpt-4o", quality=0.9),
    ]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMUXER_STRATEGY", "cascade")
    monkeypatch.setenv("MODELMUXER_MODELS", MODELS_JSON)
    monkeypatch.setenv("MODELMUXER_CASCADE_THRESHOLD", "0.7")
    monkeypatch.setenv("MODELMUXER_LOAD_ENTRYPOINTS", "false")
    settings = load_settings()
    assert settings.strategy == "cascade"
    assert [m.id for m in settings.models] == [
        "offline/openai/gpt-4o-mini",
        "offline/openai/gpt-4o",
    ]
    assert settings.models[1].quality == 0.95
    assert settings.cascade_threshold == 0.7
    assert settings.load_entrypoints is False
    assert MuxerSettings() == settings


def test_muxer_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMUXER_STRATEGY", "quality_first")
    monkeypatch.setenv("MODELMUXER_MODELS", MODELS_JSON)
    muxer = Muxer.from_env()
    try:
        assert muxer.default_strategy == "quality_first"
        assert muxer.catalog.ids() == ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
        assert muxer.catalog.get("offline/openai/gpt-4o").quality == 0.95
        assert muxer.route("hello there").strategy == "quality_first"
    finally:
        muxer.close()


def test_a_plain_muxer_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMUXER_MODELS", MODELS_JSON)
    muxer = Muxer(strategy="cost_optimized", load_entrypoints=False)
    assert muxer.catalog.ids() == ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
    assert muxer.default_strategy == "cost_optimized"


@pytest.mark.parametrize(
    ("name", "value", "setting"),
    [
        ("MODELMUXER_TIMEOUT_S", "soon", "timeout_s"),
        ("MODELMUXER_COST_WEIGHT", "2", "cost_weight"),
        ("MODELMUXER_MODELS", "[not json", "models"),
        ("MODELMUXER_MODELS", '[{"id": "x", "input_price_per_mtok": -1}]', "models"),
    ],
)
def test_invalid_environment_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=setting):
        load_settings()
    with pytest.raises(ConfigError, match=setting):
        Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_settings_from_toml(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "muxer.toml",
        """
strategy = "cost_optimized"
quality_target = 0.6
timeout_s = 5

[[models]]
id = "offline/local/llama"
input_price_per_mtok = 0
output_price_per_mtok = 0
context_window = 8192
""",
    )
    settings = load_settings(path)
    assert settings.strategy == "cost_optimized"
    assert settings.quality_target == 0.6
    assert settings.timeout_s == 5.0
    assert settings.models == [
        ModelSpec(
            id="offline/local/llama",
            input_price_per_mtok=0,
            output_price_per_mtok=0,
            context_window=8192,
        )
    ]


def test_load_settings_from_json(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "muxer.json",
        json.dumps(
            {"strategy": "cascade", "models": list(OFFLINE_MODELS), "cascade_max_models": 2}
        ),
    )
    settings = load_settings(str(path))
    assert settings.strategy == "cascade"
    assert [m.id for m in settings.models] == list(OFFLINE_MODELS)
    assert settings.strategy_settings().cascade_max_models == 2


def test_a_modelmuxer_table_in_a_shared_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "app.toml",
        """
[app]
name = "demo"

[modelmuxer]
strategy = "quality_first"
models = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
""",
    )
    settings = load_settings(path)
    assert settings.strategy == "quality_first"
    assert [m.id for m in settings.models] == [
        "offline/openai/gpt-4o-mini",
        "offline/openai/gpt-4o",
    ]


def test_sources_in_order_env_then_file_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELMUXER_STRATEGY", "cascade")
    monkeypatch.setenv("MODELMUXER_TIMEOUT_S", "7")
    path = _write(
        tmp_path / "m.json", json.dumps({"strategy": "quality_first", "cost_weight": 0.9})
    )
    settings = load_settings(path, cost_weight=0.1)
    assert settings.timeout_s == 7.0  # only the environment sets it
    assert settings.strategy == "quality_first"  # the file beats the environment
    assert settings.cost_weight == 0.1  # overrides beat the file


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("bad.toml", "strategy = ", "not valid toml"),
        ("bad.json", "{", "not valid json"),
        ("list.json", "[1, 2]", "table / object"),
        ("muxer.yaml", "strategy: hybrid", ".toml or .json"),
        ("extra.json", '{"stratgy": "hybrid"}', "stratgy"),
        ("range.json", '{"cascade_max_models": 0}', "cascade_max_models"),
        ("type.toml", 'timeout_s = "fast"', "timeout_s"),
        ("model.toml", '[[models]]\nid = "x"\nquality = 3', "models.0.quality"),
    ],
)
def test_bad_files_are_config_errors(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_settings(path)


def test_an_unsupported_suffix_is_named_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "muxer.yaml", "strategy: hybrid")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"config file {path}: use a .toml or .json file"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_muxer_from_config(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "muxer.toml",
        """
strategy = "quality_first"
load_entrypoints = false
models = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
""",
    )
    muxer = Muxer.from_config(path)
    try:
        assert muxer.settings.load_entrypoints is False
        assert muxer.catalog.ids() == ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
        completion = muxer.complete("What is the capital of France?")
        assert completion.model == "offline/openai/gpt-4o"
        assert completion.decision.strategy == "quality_first"
    finally:
        muxer.close()


def test_arguments_win_over_settings() -> None:
    settings = MuxerSettings(models=["offline/openai/gpt-4o"], strategy="cascade")
    muxer = Muxer(
        ["offline/openai/gpt-4o-mini"], "quality_first", settings=settings, load_entrypoints=False
    )
    assert muxer.catalog.ids() == ["offline/openai/gpt-4o-mini"]
    assert muxer.default_strategy == "quality_first"
    assert Muxer.from_settings(settings).catalog.ids() == ["offline/openai/gpt-4o"]


def test_settings_reach_the_strategies_and_executor() -> None:
    settings = MuxerSettings(
        models=list(OFFLINE_MODELS), quality_target=0.0, timeout_s=0.05, load_entrypoints=False
    )
    muxer = Muxer.from_settings(settings)
    try:
        decision = muxer.route("hello there", strategy="cost_optimized")
        assert decision.model == "offline/openai/gpt-4o-mini"  # target 0: the cheapest
        with pytest.raises(ProviderTimeout, match=r"within 0\.05 s"):
            muxer.complete("hello there", metadata={"offline": {"latency_s": 1.0}})
    finally:
        muxer.close()


def test_a_muxer_without_models_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least one candidate"):
        Muxer(load_entrypoints=False)


def test_plugins_named_in_settings_are_imported_and_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        tmp_path / "mm_settings_plugin.py",
        """
from modelmuxer import hookimpl


class Deny4o:
    @hookimpl
    def modelmuxer_filter_candidates(self, ctx, candidates):
        return {"offline/openai/gpt-4o": "denied by the settings plugin"}


plugin = Deny4o()
""",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = MuxerSettings(
        models=list(OFFLINE_MODELS), plugins=["mm_settings_plugin:plugin"], load_entrypoints=False
    )
    decision = Muxer.from_settings(settings).route("hello there", strategy="quality_first")
    estimate = decision.estimate("offline/openai/gpt-4o")
    assert estimate is not None
    assert estimate.excluded == "denied by the settings plugin"


@pytest.mark.parametrize("path", ["no_such_module_xyz", "modelmuxer.errors:NoSuchThing"])
def test_an_unimportable_plugin_is_a_config_error(path: str) -> None:
    settings = MuxerSettings(models=list(OFFLINE_MODELS), plugins=[path])
    with pytest.raises(ConfigError, match="cannot import plugin"):
        Muxer.from_settings(settings)


def test_settings_are_frozen() -> None:
    settings = MuxerSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.strategy = "cascade"  # type: ignore[misc]


# -- MODELMUXER_* variables that are no setting ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("MODELMUXER_BUDGET", "did you mean MODELMUXER_BUDGETS?"),
        ("MODELMUXER_STRATEGIE", "did you mean MODELMUXER_STRATEGY?"),
        ("modelmuxer_timeout", "did you mean MODELMUXER_TIMEOUT_S?"),
        ("MODELMUXER_CACHE__ENABLED", "MODELMUXER_CACHE='{\"enabled\": ...}'"),
        ("MODELMUXER_LEDGER_URL", "MODELMUXER_LEDGER='{\"url\": ...}'"),
        ("MODELMUXER_ENCRYPTION_KEY", "did you mean MODELMUXER_ENCRYPTION_KEYS?"),
        ("MODELMUXER_XYZZY", "docs/configuration.md"),
    ],
)
def test_an_unknown_variable_is_a_warning_naming_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, name: str, hint: str
) -> None:
    monkeypatch.setenv(name, "{}")
    with caplog.at_level("WARNING", logger="modelmuxer.config"):
        settings = load_settings()  # still loads: a warning, not an error
    assert settings == MuxerSettings()
    [record] = [r for r in caplog.records if r.name == "modelmuxer.config"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(f"{name} is set but is not a ModelMuxer setting")
    assert hint in record.getMessage()


def test_settings_and_the_projects_own_variables_are_not_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from modelmuxer.config import PROJECT_VARIABLES

    assert "MODELMUXER_HOME" in PROJECT_VARIABLES
    assert "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD" in PROJECT_VARIABLES
    for name in PROJECT_VARIABLES:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("MODELMUXER_TEST_SOMETHING", "x")  # the test suite's own
    monkeypatch.setenv("MODELMUXER_STRATEGY", "cascade")
    # a variable the settings name as where a key lives is one of theirs, too
    monkeypatch.setenv("MODELMUXER_PROD_AUDIT_KEY", "k" * 32)
    monkeypatch.setenv("MODELMUXER_OPENAI_KEY", "sk-test")
    path = _write(
        tmp_path / "m.json",
        json.dumps(
            {
                "audit": {"hmac_key_env": "MODELMUXER_PROD_AUDIT_KEY"},
                "models": [
                    {
                        "id": "offline/openai/gpt-4o-mini",
                        "deployment": {"api_key_env": "MODELMUXER_OPENAI_KEY"},
                    }
                ],
            }
        ),
    )
    with caplog.at_level("WARNING", logger="modelmuxer.config"):
        load_settings(path)
    assert [r.getMessage() for r in caplog.records if r.name == "modelmuxer.config"] == []
