"""The example policy, registered explicitly and (when the package is installed) by entry point.

Run with ``pytest examples/custom_policy_plugin/tests``: it works whether or not the package is
installed; without it, the source tree is imported and the entry-point test is skipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("modelmuxer_policy_example") is None:  # not installed: use the source
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import modelmuxer_policy_example
from modelmuxer_policy_example import (
    CONFIDENTIAL_REASON,
    SELF_HOSTED_PROVIDERS,
    RoutingPolicy,
)

from modelmuxer import Muxer, NoEligibleModel

LOCAL = "offline/ollama/llama3.1"  # priced by litellm's map: provider "ollama", $0
CODER = "offline/ollama/codellama"
CLOUD = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
CODE_QUESTION = "Fix this bug:\n```python\ndef add(a, b):\n    return a -\n```"
PLAIN_QUESTION = "What is the capital of France?"


@pytest.fixture
def make_muxer() -> Iterator[Any]:
    built: list[Muxer] = []

    def make(models: list[str], **kwargs: Any) -> Muxer:
        kwargs.setdefault("load_entrypoints", False)
        muxer = Muxer(models, **kwargs)
        built.append(muxer)
        return muxer

    yield make
    for muxer in built:
        muxer.close()


def test_the_self_hosted_models_are_self_hosted(make_muxer: Any) -> None:
    muxer = make_muxer([LOCAL, *CLOUD])
    policy = RoutingPolicy()
    assert policy.is_self_hosted(muxer.catalog.get(LOCAL))
    assert not any(policy.is_self_hosted(muxer.catalog.get(m)) for m in CLOUD)


@pytest.mark.parametrize("strategy", ["hybrid", "quality_first", "cost_optimized", "cascade"])
async def test_confidential_requests_stay_self_hosted(make_muxer: Any, strategy: str) -> None:
    muxer = make_muxer([*CLOUD, LOCAL], plugins=[RoutingPolicy()])
    decision = muxer.route(PLAIN_QUESTION, tags=["confidential"], strategy=strategy)
    assert decision.models == [LOCAL]
    for model in CLOUD:
        estimate = decision.estimate(model)
        assert estimate is not None
        assert estimate.excluded == CONFIDENTIAL_REASON
    completion = await muxer.acomplete(PLAIN_QUESTION, tags=["confidential"], strategy=strategy)
    assert completion.model == LOCAL
    assert completion.cost_usd == 0.0


def test_untagged_requests_may_use_any_model(make_muxer: Any) -> None:
    muxer = make_muxer([*CLOUD, LOCAL], plugins=[RoutingPolicy()])
    decision = muxer.route(PLAIN_QUESTION, strategy="quality_first")
    assert decision.model == "offline/openai/gpt-4o"
    assert all(c.excluded is None for c in decision.candidates)


def test_confidential_without_a_self_hosted_model_fails_closed(make_muxer: Any) -> None:
    muxer = make_muxer(CLOUD, plugins=[RoutingPolicy()])
    with pytest.raises(NoEligibleModel) as info:
        muxer.route(PLAIN_QUESTION, tags=["confidential"])
    assert info.value.exclusions == {model: CONFIDENTIAL_REASON for model in CLOUD}
    assert CONFIDENTIAL_REASON in str(info.value)


def test_confidential_also_binds_a_pinned_model(make_muxer: Any) -> None:
    muxer = make_muxer([*CLOUD, LOCAL], plugins=[RoutingPolicy()])
    with pytest.raises(NoEligibleModel, match=CONFIDENTIAL_REASON):
        muxer.route(PLAIN_QUESTION, tags=["confidential"], model="offline/openai/gpt-4o")


async def test_code_questions_go_to_the_code_model(make_muxer: Any) -> None:
    muxer = make_muxer([*CLOUD, CODER], plugins=[RoutingPolicy(code_model=CODER)])
    decision = muxer.route(CODE_QUESTION, strategy="quality_first")
    assert decision.features["task_type"] == "code"
    assert decision.models == [CODER]
    assert decision.strategy == "policy:code"
    assert (await muxer.acomplete(CODE_QUESTION)).model == CODER
    # Other questions are left to the strategy.
    assert muxer.route(PLAIN_QUESTION, strategy="quality_first").model == "offline/openai/gpt-4o"


def test_an_ineligible_code_model_leaves_it_to_the_strategy(make_muxer: Any) -> None:
    muxer = make_muxer([*CLOUD, CODER], plugins=[RoutingPolicy(code_model=CODER)])
    decision = muxer.route(CODE_QUESTION, strategy="quality_first", routing={"deny": [CODER]})
    assert decision.strategy == "quality_first"
    absent = make_muxer(CLOUD, plugins=[RoutingPolicy(code_model=CODER)])
    assert absent.route(CODE_QUESTION).strategy == "hybrid"


def test_a_confidential_code_question_never_reaches_a_cloud_code_model(make_muxer: Any) -> None:
    muxer = make_muxer([*CLOUD, LOCAL], plugins=[RoutingPolicy(code_model="offline/openai/gpt-4o")])
    assert muxer.route(CODE_QUESTION).models == ["offline/openai/gpt-4o"]
    assert muxer.route(CODE_QUESTION, tags=["confidential"]).models == [LOCAL]


def test_configuration_from_the_environment() -> None:
    policy = RoutingPolicy.from_env(
        {"MODELMUXER_POLICY_CODE_MODEL": CODER, "MODELMUXER_POLICY_SELF_HOSTED": "acme, local"}
    )
    assert policy.code_model == CODER
    assert policy.self_hosted_providers == {"acme", "local"}
    default = RoutingPolicy.from_env({})
    assert default.code_model is None
    assert default.self_hosted_providers == SELF_HOSTED_PROVIDERS


def _installed() -> bool:
    return any(
        ep.value == "modelmuxer_policy_example:plugin"
        for ep in importlib.metadata.entry_points(group="modelmuxer")
    )


@pytest.mark.skipif(not _installed(), reason="the example package is not installed")
def test_the_installed_entry_point_registers_the_policy(
    make_muxer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELMUXER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    muxer = make_muxer([*CLOUD, LOCAL], load_entrypoints=True)
    assert muxer.plugins.is_registered(modelmuxer_policy_example.plugin)
    assert muxer.route(PLAIN_QUESTION, tags=["confidential"]).models == [LOCAL]
