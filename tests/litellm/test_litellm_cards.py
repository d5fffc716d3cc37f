"""Deployments as ModelMuxer candidates: prices, limits and capabilities, and overrides."""

from __future__ import annotations

import pytest
from _litellm_support import CHEAP, MakeRouter, deployment

from modelmuxer.catalog import lookup_model
from modelmuxer.errors import ConfigError
from modelmuxer_litellm import deployment_card

pytestmark = pytest.mark.litellm


def test_card_from_the_price_map() -> None:
    card = deployment_card(deployment("mini", "chat", CHEAP))
    _, entry = lookup_model(CHEAP) or (None, {})
    assert card.id == "mini"
    assert card.input_cost_per_token == entry["input_cost_per_token"]
    assert card.context_window == entry["max_input_tokens"]
    assert card.capabilities.tools


def test_deployment_prices_limits_and_capabilities_win() -> None:
    card = deployment_card(
        deployment(
            "mini",
            "chat",
            CHEAP,
            input_cost_per_token=1e-7,
            output_cost_per_token=2e-7,
            max_input_tokens=1234,
            supports_function_calling=False,
        )
    )
    assert (card.input_cost_per_token, card.output_cost_per_token) == (1e-7, 2e-7)
    assert card.context_window == 1234
    assert not card.capabilities.tools


def test_inline_and_given_overrides_in_order() -> None:
    listed = deployment("mini", "chat", CHEAP, modelmuxer={"quality": 0.5, "context_window": 999})
    assert deployment_card(listed).quality == 0.5
    by_group = deployment_card(listed, {"chat": {"quality": 0.6}})
    assert (by_group.quality, by_group.context_window) == (0.6, 999)
    by_id = deployment_card(listed, {"chat": {"quality": 0.6}, "mini": {"quality": 0.7}})
    assert by_id.quality == 0.7


def test_unpriced_deployment_is_a_config_error_naming_it(make_router: MakeRouter) -> None:
    unknown = deployment("mine", "chat", "openai/my-private-finetune")
    with pytest.raises(ConfigError, match=r"'mine'.*input_cost_per_token"):
        make_router([unknown])
    priced = {"input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0, "context_window": 8000}
    _, callback = make_router([unknown], overrides={"mine": priced})
    assert callback.muxer.catalog.get("mine").input_cost_per_token == pytest.approx(1e-6)


def test_bad_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mini"):
        deployment_card(deployment("mini", "chat", CHEAP), {"mini": {"quality": 3.0}})
