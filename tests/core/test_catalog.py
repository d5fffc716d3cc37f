"""The catalog: real prices from litellm's price map, overrides, and no silent $0."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from _support import MakeMuxer

from modelmuxer import ConfigError, ModelSpec, UnknownModel
from modelmuxer.catalog import Catalog, build_card, load_price_map, lookup_model, prior_for
from modelmuxer.catalog.pricemap import PRICE_MAP_FILE
from modelmuxer.testing import make_card
from modelmuxer.types import Capabilities, Deployment, LatencyProfile


def _identity(model_id: str, backend: str | None) -> str:
    return model_id


@pytest.fixture(scope="module")
def price_file() -> Mapping[str, Mapping[str, Any]]:
    """litellm's bundled price map, read independently of the code under test."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None
    assert spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_MAP_FILE
    data: dict[str, Mapping[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
    ],
)
def test_known_models_get_the_price_maps_numbers(
    price_file: Mapping[str, Mapping[str, Any]], model: str, key: str
) -> None:
    entry = price_file[key]
    card = Catalog.build([model], _identity).get(model)
    assert card.input_cost_per_token == entry["input_cost_per_token"]
    assert card.output_cost_per_token == entry["output_cost_per_token"]
    assert card.cached_input_cost_per_token == entry.get("cache_read_input_token_cost")
    assert card.context_window == entry["max_input_tokens"]
    assert card.max_output_tokens == min(entry["max_output_tokens"], entry["max_input_tokens"])
    assert card.provider == entry["litellm_provider"]
    assert card.capabilities.tools == bool(entry.get("supports_function_calling"))
    assert card.capabilities.vision == bool(entry.get("supports_vision"))
    assert card.input_cost_per_token > 0


def test_offline_models_are_priced_like_the_real_ones(
    muxer: Any, price_file: Mapping[str, Mapping[str, Any]]
) -> None:
    card = muxer.catalog.get("offline/openai/gpt-4o-mini")
    assert card.id == "offline/openai/gpt-4o-mini"
    assert card.input_cost_per_token == price_file["gpt-4o-mini"]["input_cost_per_token"]
    assert card.output_cost_per_token == price_file["gpt-4o-mini"]["output_cost_per_token"]
    assert card.provider == "openai"


def test_lookup_strips_the_provider_prefix_only_when_providers_agree() -> None:
    found = lookup_model("openai/gpt-4o-mini")
    assert found is not None
    assert found[0] == "gpt-4o-mini"
    assert found[1]["litellm_provider"] == "openai"
    assert lookup_model("gpt-4o-mini") is not None
    assert lookup_model("anthropic/gpt-4o-mini") is None  # gpt-4o-mini is not Anthropic's
    assert lookup_model("openai/no-such-model-xyz") is None
    assert lookup_model("no-such-model-xyz") is None


def test_price_map_is_read_once_and_has_no_sample_spec() -> None:
    assert load_price_map() is load_price_map()
    assert "sample_spec" not in load_price_map()


@pytest.mark.parametrize("model", ["openai/no-such-model-xyz", "my-finetune"])
def test_a_model_without_a_known_price_is_a_config_error(model: str) -> None:
    with pytest.raises(ConfigError) as info:
        Catalog.build([model], _identity)
    message = str(info.value)
    assert repr(model) in message
    assert "input_price_per_mtok" in message


def test_a_model_without_a_price_fails_the_muxer_at_construction(make_muxer: MakeMuxer) -> None:
    with pytest.raises(ConfigError, match="no known price"):
        make_muxer(["offline/openai/gpt-4o-mini", "offline/acme/secret-model"])


def test_half_a_price_is_not_enough() -> None:
    with pytest.raises(ConfigError, match="no known price"):
        Catalog.build(
            [ModelSpec(id="acme/x", input_price_per_mtok=1.0, context_window=1000)], _identity
        )


def test_a_zero_price_override_is_valid(make_muxer: MakeMuxer) -> None:
    spec = {
        "id": "offline/local/llama-3-8b",
        "provider": "local",
        "input_price_per_mtok": 0,
        "output_price_per_mtok": 0,
        "context_window": 8192,
    }
    muxer = make_muxer([spec])
    card = muxer.catalog.get("offline/local/llama-3-8b")
    assert card.input_cost_per_token == 0.0
    assert card.output_cost_per_token == 0.0
    assert card.provider == "local"
    completion = muxer.complete("What is the capital of France?")
    assert completion.cost_usd == 0.0
    assert completion.usage.completion_tokens > 0


def test_per_mtok_overrides_replace_the_price_map() -> None:
    spec = ModelSpec(id="openai/gpt-4o-mini", input_price_per_mtok=3.0, output_price_per_mtok=9.0)
    card = build_card(spec, "openai/gpt-4o-mini")
    assert card.input_cost_per_token == pytest.approx(3e-6)
    assert card.output_cost_per_token == pytest.approx(9e-6)
    # An input price override drops the map's cached price (it belonged to the old price).
    assert card.cached_input_cost_per_token is None
    assert card.context_window == 128_000  # the rest still comes from the map


def test_per_token_prices_win_over_per_mtok() -> None:
    spec = ModelSpec(
        id="x/y",
        input_cost_per_token=1e-6,
        input_price_per_mtok=100.0,
        output_cost_per_token=2e-6,
        cached_input_cost_per_token=5e-7,
        context_window=1000,
    )
    card = build_card(spec, "x/y")
    assert card.input_cost_per_token == 1e-6
    assert card.output_cost_per_token == 2e-6
    assert card.cached_input_cost_per_token == 5e-7
    assert card.cost_usd(100, 10, cached_tokens=40) == pytest.approx(
        60 * 1e-6 + 40 * 5e-7 + 10 * 2e-6
    )


def test_capability_overrides_are_partial() -> None:
    card = build_card(ModelSpec(id="gpt-4o-mini", capabilities={"tools": False}), "gpt-4o-mini")
    assert card.capabilities == Capabilities(tools=False, vision=True, json_mode=True)


def test_unknown_capability_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="telepathy"):
        build_card(ModelSpec(id="gpt-4o-mini", capabilities={"telepathy": True}), "gpt-4o-mini")


def test_other_overrides() -> None:
    spec = ModelSpec(
        id="gpt-4o-mini",
        provider="azure",
        context_window=1000,
        max_output_tokens=5000,
        quality=0.42,
        quality_by_task={"code": 0.9},
        latency=LatencyProfile(ttft_s=0.1, tokens_per_s=500),
        deployment=Deployment(api_base="http://localhost:1234", api_key_env="MY_KEY"),
        backend="offline",
    )
    card = build_card(spec, "gpt-4o-mini")
    assert card.provider == "azure"
    assert card.context_window == 1000
    assert card.max_output_tokens == 1000  # never more than the context window
    assert card.quality == 0.42
    assert card.quality_by_task == {"code": 0.9}
    assert card.latency.tokens_per_s == 500
    assert card.deployment.api_key_env == "MY_KEY"
    assert card.backend == "offline"


def test_a_self_hosted_model_needs_a_context_window() -> None:
    spec = ModelSpec(id="local/m", input_price_per_mtok=0, output_price_per_mtok=0)
    with pytest.raises(ConfigError, match="context_window"):
        build_card(spec, "local/m")


def test_duplicate_ids_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        Catalog.build(["gpt-4o-mini", {"id": "gpt-4o-mini", "quality": 0.9}], _identity)


def test_an_empty_catalog_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        Catalog.build([], _identity)


@pytest.mark.parametrize(
    "spec",
    [
        {"id": ""},
        {"id": "gpt-4o", "input_price_per_mtok": -1},
        {"id": "gpt-4o", "quality": 2},
        {"id": "gpt-4o", "colour": "blue"},
    ],
)
def test_an_invalid_spec_is_a_config_error(spec: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="invalid model specification"):
        Catalog.build([spec], _identity)


def test_cards_are_kept_as_given_and_in_order() -> None:
    a = make_card("a/one")
    b = make_card("b/two", input_price_per_mtok=0.0, output_price_per_mtok=0.0)
    catalog = Catalog.build([b, a, "gpt-4o"], _identity)
    assert catalog.ids() == ["b/two", "a/one", "gpt-4o"]
    assert catalog.get("a/one") is a
    assert [c.id for c in catalog] == catalog.ids()
    assert [c.id for c in catalog.cards()] == catalog.ids()
    assert len(catalog) == 3
    assert "a/one" in catalog
    assert "c/three" not in catalog


def test_get_an_unknown_model_raises_unknown_model() -> None:
    catalog = Catalog([make_card("a/one"), make_card("b/two")])
    with pytest.raises(UnknownModel) as info:
        catalog.get("c/three")
    assert info.value.known == ["a/one", "b/two"]


def test_the_price_alias_decides_where_prices_come_from(
    price_file: Mapping[str, Mapping[str, Any]],
) -> None:
    catalog = Catalog.build(["mine/fast"], lambda model, backend: "openai/gpt-4o-mini")
    card = catalog.get("mine/fast")
    assert card.id == "mine/fast"
    assert card.input_cost_per_token == price_file["gpt-4o-mini"]["input_cost_per_token"]


def test_family_priors_order_the_tiers() -> None:
    ladder = [
        "openai/gpt-4.1-nano",
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "anthropic/claude-opus-4-1",
    ]
    priors = [prior_for(model, 1e-6, 1e-6) for model in ladder]
    assert all(p.source != "price-derived" for p in priors)
    qualities = [p.quality for p in priors]
    assert qualities == sorted(qualities)
    assert len(set(qualities)) == len(qualities)
    assert all(0.0 < q < 1.0 for q in qualities)


def test_price_priors_rise_with_price_and_stay_in_range() -> None:
    cheap = prior_for("acme/unknown", 1e-8, 1e-8)
    dear = prior_for("acme/unknown", 1e-4, 1e-4)
    free = prior_for("acme/unknown", 0.0, 0.0)
    assert cheap.source == dear.source == "price-derived"
    assert 0.5 <= cheap.quality < dear.quality <= 0.9
    assert 0.5 <= free.quality <= 0.9


def test_known_model_cards_get_a_prior_unless_quality_is_set() -> None:
    catalog = Catalog.build(["gpt-4o-mini", {"id": "gpt-4o", "quality": 0.5}], _identity)
    card = catalog.get("gpt-4o-mini")
    prior = prior_for("gpt-4o-mini", card.input_cost_per_token, card.output_cost_per_token)
    assert card.quality == prior.quality
    assert card.latency.ttft_s == prior.ttft_s
    assert catalog.get("gpt-4o").quality == 0.5
