"""Deployments as ModelMuxer candidates: prices, limits and capabilities, and overrides."""

from __future__ import annotations

from typing import Any

import pytest
from _litellm_support import CHEAP, EASY, MakeRouter, RecordSink, deployment, wait_for_records

from modelmuxer.catalog import lookup_model
from modelmuxer.errors import ConfigError
from modelmuxer_litellm import AUTO_GROUP, deployment_card

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


def _other(ident: str, group: str, model: str, **info: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model}
    if "mock_response" in info:
        params["mock_response"] = info.pop("mock_response")
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident, **info}}


async def test_deployments_that_do_not_answer_chat_are_left_out_of_chat_routing(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    """A Router config with an embedding, a transcription and an image deployment beside its
    chat ones: ``register`` works (audio and image models have no per-token price), the virtual
    group holds the chat deployments only (else the cheapest, the embedding model, got chat
    requests), and embeddings still work and are recorded."""
    router, callback = make_router(
        [
            deployment("mini", "chat", CHEAP),
            _other("emb", "embed", "openai/text-embedding-3-small", mock_response=[0.1, 0.2]),
            _other("stt", "transcribe", "openai/whisper-1"),  # a mode in litellm's price map
            _other("img", "images", "openai/dall-e-3", mode="image_generation"),
        ]
    )
    auto = {d["model_info"]["id"] for d in callback.deployments() if d["model_name"] == AUTO_GROUP}
    assert auto == {f"mini@{AUTO_GROUP}"}
    for _ in range(2):
        answer = await router.acompletion(model=AUTO_GROUP, messages=EASY)
        assert answer._hidden_params["modelmuxer"]["deployment"] == "mini"
    embedded = await router.aembedding(model="embed", input=["hello"])
    assert embedded.data
    records = await wait_for_records(sink, 3)
    (emb,) = [r for r in records if r.model == "emb"]
    assert emb.outcome == "ok"
    assert emb.usage.prompt_tokens > 0
    assert emb.cost_usd == pytest.approx(emb.usage.prompt_tokens * 2e-8)
    assert {r.model for r in records} == {"mini", "emb"}


def test_an_image_model_unknown_to_the_price_map_says_to_set_its_mode(
    make_router: MakeRouter,
) -> None:
    with pytest.raises(ConfigError, match=r"model_info\.mode \("):
        make_router([deployment("mini", "chat", CHEAP), _other("img", "i", "openai/dall-e-3")])


def test_an_azure_deployment_is_priced_as_its_base_model_wherever_it_is_set() -> None:
    """Azure deployment names say nothing of the model: LiteLLM reads ``base_model`` from
    ``model_info`` or, failing that, from ``litellm_params``; so does the card."""
    _, entry = lookup_model("azure/gpt-4o") or (None, {})
    for where in ("model_info", "litellm_params"):
        listed = _other("az", "chat", "azure/my-company-gpt4o")
        listed[where]["base_model"] = "azure/gpt-4o"
        card = deployment_card(listed)
        assert card.input_cost_per_token == entry["input_cost_per_token"], where
        assert card.context_window == entry["max_input_tokens"], where


def test_deployments_sharing_an_id_are_a_config_error_naming_them(make_router: MakeRouter) -> None:
    twins = [deployment("same", "chat", CHEAP), deployment("same", "backup", "openai/gpt-4o")]
    with pytest.raises(ConfigError, match=r"'chat' and 'backup' share model_info\.id 'same'"):
        make_router(twins)
