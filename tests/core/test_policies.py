"""Access policies: rule semantics, denials that name the rule, the PII data rule, the cost cap."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from _support import MakeMuxer

from modelmuxer import ConfigError, Muxer, NoEligibleModel, hookimpl
from modelmuxer.analysis import analyze
from modelmuxer.config import MuxerSettings, load_settings
from modelmuxer.context import RequestContext
from modelmuxer.policies import PolicyEngine, PolicySettings
from modelmuxer.strategies.estimates import worst_case_cost

MINI = "offline/openai/gpt-4o-mini"
GPT4O = "offline/openai/gpt-4o"
SONNET = "offline/anthropic/claude-sonnet-4-5"
MODELS = [MINI, GPT4O, SONNET]
HARD = "Prove that there are infinitely many primes, with every step justified in detail."
EASY = "What is the capital of France?"


def _settings(**policies: Any) -> MuxerSettings:
    return load_settings(models=MODELS, load_entrypoints=False, policies=policies)


def _muxer(make_muxer: MakeMuxer, *, plugins: tuple[object, ...] = (), **policies: Any) -> Muxer:
    return make_muxer(None, settings=_settings(**policies), plugins=list(plugins))


def _excluded(exc: NoEligibleModel) -> dict[str, str]:
    return dict(exc.exclusions)


class PiiFound:
    """Stands in for redaction: leaves PII counts where policies read them."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts = dict(counts)

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        ctx.state["pii_counts"] = dict(self.counts)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        self.seen.append((name, dict(data)))


INTERNS = {"name": "interns", "match": {"roles": ["intern"]}, "allow_tiers": ["economy"]}


def test_without_rules_no_policy_plugin_is_registered(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer)
    assert muxer.policies is None
    assert muxer.plugins.get_plugin("modelmuxer.policies") is None
    assert muxer.route(HARD, strategy="quality_first").model == SONNET


def test_a_denial_names_the_rule(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer, rules=[INTERNS])
    assert isinstance(muxer.policies, PolicyEngine)
    with pytest.raises(NoEligibleModel) as caught:
        muxer.complete(EASY, model=GPT4O, identity={"role": "intern"})
    why = _excluded(caught.value)[GPT4O]
    assert why.startswith("policy 'interns': ")
    assert "tier 'standard'" in why
    assert "economy" in why
    assert "policy 'interns'" in str(caught.value)
    # the rule applies to interns only
    assert muxer.complete(EASY, model=GPT4O, identity={"role": "staff"}).model == GPT4O
    assert muxer.complete(EASY, model=GPT4O).model == GPT4O


def test_routing_keeps_the_exclusions_in_the_decision(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer, rules=[INTERNS])
    decision = muxer.route(HARD, strategy="quality_first", identity={"role": "intern"})
    assert decision.model == MINI
    excluded = {c.model: c.excluded for c in decision.candidates if c.excluded}
    assert set(excluded) == {GPT4O, SONNET}
    assert all(why.startswith("policy 'interns': ") for why in excluded.values())


def test_default_tiers_follow_the_quality_priors(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer)
    tiers = PolicySettings()
    assert {m: tiers.tier_of(muxer.catalog.get(m)) for m in MODELS} == {
        MINI: "economy",
        GPT4O: "standard",
        SONNET: "premium",
    }
    custom = PolicySettings(tiers={"small": 0.0, "big": 0.8})
    assert custom.tier_of(muxer.catalog.get(GPT4O)) == "big"


def test_every_applying_rule_is_enforced_and_the_first_excluding_rule_is_named(
    make_muxer: MakeMuxer,
) -> None:
    no_anthropic = {"name": "no-anthropic", "deny_providers": ["Anthropic"]}
    minis_only = {"name": "minis-only", "match": {"orgs": ["acme"]}, "allow_models": ["*-mini"]}
    muxer = _muxer(make_muxer, rules=[no_anthropic, minis_only])
    with pytest.raises(NoEligibleModel) as caught:
        muxer.route(EASY, identity={"org": "acme"}, routing={"deny": [MINI]})
    why = _excluded(caught.value)
    assert why[SONNET].startswith("policy 'no-anthropic': provider anthropic is denied")
    assert why[GPT4O].startswith("policy 'minis-only': ")
    # restrictions add up: nothing outside both rules is left
    assert muxer.route(HARD, strategy="quality_first", identity={"org": "acme"}).model == MINI
    # another org: only the first rule applies
    assert muxer.route(HARD, strategy="quality_first", identity={"org": "other"}).model == GPT4O
    reordered = _muxer(make_muxer, rules=[minis_only, no_anthropic])
    with pytest.raises(NoEligibleModel) as caught:
        reordered.route(EASY, identity={"org": "acme"}, routing={"deny": [MINI]})
    assert _excluded(caught.value)[SONNET].startswith("policy 'minis-only': ")


def test_a_match_needs_every_condition_and_any_listed_value(make_muxer: MakeMuxer) -> None:
    rule = {
        "name": "eu-support",
        "match": {"orgs": ["acme", "globex"], "roles": ["support"], "tags": ["eu", "gdpr"]},
        "deny_models": [SONNET],
    }
    muxer = _muxer(make_muxer, rules=[rule])

    def best(**kwargs: Any) -> str:
        return muxer.route(HARD, strategy="quality_first", **kwargs).model

    assert best(identity={"org": "globex", "role": "support"}, tags=["gdpr"]) == GPT4O
    assert best(identity={"org": "acme", "role": "support"}, tags=["eu", "x"]) == GPT4O
    assert best(identity={"org": "acme", "role": "support"}) == SONNET  # no tag
    assert best(identity={"org": "acme"}, tags=["eu"]) == SONNET  # no role
    assert best(identity={"org": "initech", "role": "support"}, tags=["eu"]) == SONNET


def test_unless_exempts_part_of_the_matched_requests(make_muxer: MakeMuxer) -> None:
    rule = {
        "name": "acme-standard",
        "match": {"orgs": ["acme"]},
        "unless": {"roles": ["admin"]},
        "allow_tiers": ["economy", "standard"],
    }
    muxer = _muxer(make_muxer, rules=[rule])
    member = muxer.route(HARD, strategy="quality_first", identity={"org": "acme", "role": "dev"})
    admin = muxer.route(HARD, strategy="quality_first", identity={"org": "acme", "role": "admin"})
    assert (member.model, admin.model) == (GPT4O, SONNET)


def test_default_deny_refuses_requests_no_rule_covers(make_muxer: MakeMuxer) -> None:
    staff = {"name": "staff", "match": {"roles": ["staff"]}}
    muxer = _muxer(make_muxer, rules=[staff], default="deny")
    assert muxer.complete(EASY, identity={"role": "staff"}).text
    with pytest.raises(NoEligibleModel) as caught:
        muxer.complete(EASY, identity={"user": "mallory", "role": "guest"})
    why = _excluded(caught.value)
    assert set(why) == set(MODELS)
    assert all(w.startswith("policy 'default': no rule applies") for w in why.values())
    assert "user=mallory, role=guest" in why[MINI]
    with pytest.raises(NoEligibleModel, match="no identity"):
        muxer.complete(EASY)
    # a deny default with no rule at all is a closed world: the engine is on
    closed = _muxer(make_muxer, default="deny")
    assert closed.policies is not None
    with pytest.raises(NoEligibleModel):
        closed.route(EASY, identity={"role": "staff"})


def test_pii_found_by_redaction_goes_only_to_the_allowed_providers(make_muxer: MakeMuxer) -> None:
    rule = {"name": "pii-anthropic-only", "match": {"pii": True}, "allow_providers": ["anthropic"]}
    with_pii = _muxer(make_muxer, rules=[rule], plugins=(PiiFound({"email": 2}),))
    decision = with_pii.route(EASY, strategy="cost_optimized")
    assert decision.model == SONNET
    assert decision.estimate(MINI).excluded == (  # type: ignore[union-attr]
        "policy 'pii-anthropic-only': provider openai is not among the allowed providers "
        "(anthropic)"
    )
    with pytest.raises(NoEligibleModel, match="pii-anthropic-only"):
        with_pii.complete(EASY, model=MINI)
    # counts of zero are no PII
    clean = _muxer(make_muxer, rules=[rule], plugins=(PiiFound({"email": 0}),))
    assert clean.route(EASY, strategy="cost_optimized").model == MINI


def test_the_pii_tag_marks_a_request_as_pii(make_muxer: MakeMuxer) -> None:
    rule = {"name": "pii-openai-only", "match": {"pii": True}, "allow_providers": ["openai"]}
    no_pii = {"name": "public", "match": {"pii": False}, "deny_models": [MINI]}
    muxer = _muxer(make_muxer, rules=[rule, no_pii])
    tagged = muxer.route(HARD, strategy="quality_first", tags=["pii"])
    assert tagged.model == GPT4O
    assert tagged.estimate(SONNET).excluded.startswith("policy 'pii-openai-only'")  # type: ignore[union-attr]
    untagged = muxer.route(HARD, strategy="cost_optimized", routing={"quality_target": 0.0})
    assert untagged.model == GPT4O  # 'public' denies the mini for requests without PII
    custom = _muxer(make_muxer, rules=[rule], pii_tag="personal")
    assert custom.route(HARD, strategy="quality_first", tags=["personal"]).model == GPT4O
    assert custom.route(HARD, strategy="quality_first", tags=["pii"]).model == SONNET


def _worst(muxer: Muxer, model: str, prompt: str, max_tokens: int) -> float:
    request = muxer.request(prompt, max_tokens=max_tokens)
    return worst_case_cost(analyze(request), request, muxer.catalog.get(model))


def test_the_cost_cap_excludes_models_whose_worst_case_exceeds_it(make_muxer: MakeMuxer) -> None:
    probe = _muxer(make_muxer)
    cap = _worst(probe, GPT4O, HARD, 200) * 1.01  # the 4o fits at 200 tokens, the sonnet not
    rule = {"name": "cheap-org", "match": {"orgs": ["acme"]}, "max_cost_usd": cap}
    muxer = _muxer(make_muxer, rules=[rule])
    decision = muxer.route(HARD, strategy="quality_first", identity={"org": "acme"}, max_tokens=200)
    assert decision.model == GPT4O
    assert decision.estimate(SONNET).excluded.startswith(  # type: ignore[union-attr]
        "policy 'cheap-org': worst-case cost $"
    )
    # without max_tokens the model's own output limit bounds the worst case: none fits
    with pytest.raises(NoEligibleModel) as caught:
        muxer.route(HARD, identity={"org": "acme"})
    assert all("policy 'cheap-org'" in why for why in _excluded(caught.value).values())
    # other orgs are not capped
    assert muxer.route(HARD, strategy="quality_first", identity={"org": "x"}).model == SONNET


def test_the_cost_cap_bounds_a_whole_cascade(make_muxer: MakeMuxer) -> None:
    refusing = {"offline": {"refuse": True}}  # the judge rejects every answer: escalate
    models = [MINI, GPT4O]
    free = make_muxer(models, strategy="cascade")
    escalated = free.complete(HARD, max_tokens=100, metadata=refusing)
    assert [a.model for a in escalated.attempts] == [MINI, GPT4O]
    # each model fits the cap alone, the two together do not
    cap = _worst(free, GPT4O, HARD, 100) + 1e-9
    settings = load_settings(
        models=models,
        strategy="cascade",
        load_entrypoints=False,
        policies={"rules": [{"name": "cap", "max_cost_usd": cap}]},
    )
    capped = make_muxer(None, settings=settings)
    answer = capped.complete(HARD, max_tokens=100, metadata=refusing)
    assert [a.model for a in answer.attempts] == [MINI]
    assert answer.cost_usd <= cap


def test_each_denial_is_an_event(make_muxer: MakeMuxer) -> None:
    events = Events()
    muxer = _muxer(make_muxer, rules=[INTERNS], plugins=(events,))
    muxer.route(EASY, identity={"role": "intern"})
    denied = [data for name, data in events.seen if name == "policy.denied"]
    assert sorted((d["rule"], d["model"]) for d in denied) == sorted(
        [("interns", GPT4O), ("interns", SONNET)]
    )
    events.seen.clear()
    muxer.route(EASY, identity={"role": "staff"})
    assert [name for name, _ in events.seen if name == "policy.denied"] == []


def test_the_applying_rules_are_left_for_the_audit_log(make_muxer: MakeMuxer) -> None:
    seen: list[object] = []

    class Look:
        @hookimpl
        def modelmuxer_request_end(self, ctx: RequestContext, completion: Any, error: Any) -> None:
            seen.append(ctx.state.get("policy_rules"))

    everyone = {"name": "everyone", "deny_models": ["nothing/*"]}
    muxer = _muxer(make_muxer, rules=[everyone, INTERNS], plugins=(Look(),))
    muxer.complete(EASY, identity={"role": "intern"})
    muxer.complete(EASY)
    assert seen == [["everyone", "interns"], ["everyone"]]


def test_a_cached_answer_is_served_only_if_its_model_is_allowed(make_muxer: MakeMuxer) -> None:
    settings = load_settings(
        models=MODELS,
        load_entrypoints=False,
        cache={"enabled": True},
        policies={"rules": [INTERNS]},
    )
    muxer = make_muxer(None, settings=settings)
    first = muxer.complete(HARD, strategy="quality_first", temperature=0, identity={"org": "a"})
    assert first.model == SONNET
    again = muxer.complete(HARD, strategy="quality_first", temperature=0, identity={"org": "a"})
    assert again.cache == "exact"
    intern = muxer.complete(
        HARD, strategy="quality_first", temperature=0, identity={"org": "a", "role": "intern"}
    )
    assert intern.model == MINI
    assert intern.cache != "exact"


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ({"rules": [{"name": "a"}, {"name": "a"}]}, "two rules are named 'a'"),
        ({"rules": [{"name": "a", "allow_tiers": ["gold"]}]}, "unknown tier(s) gold"),
        ({"rules": [{"name": "a", "allow_models": []}]}, "allow_models"),
        ({"rules": [{"name": "a", "match": {"roles": [" "]}}]}, "roles"),
        ({"rules": [{"name": "a", "max_cost_usd": 0}]}, "max_cost_usd"),
        ({"rules": [{"name": "a", "match": {"role": ["x"]}}]}, "role"),
        ({"tiers": {"low": 0.2, "high": 0.9}}, "lowest tier must start at 0.0"),
        ({"default": "maybe"}, "default"),
    ],
)
def test_bad_policy_settings_are_config_errors(policies: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="policies") as caught:
        load_settings(models=MODELS, policies=policies)
    assert message in str(caught.value)


def test_policies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELMUXER_POLICIES",
        '{"rules": [{"name": "interns", "match": {"roles": ["intern"]}, '
        '"allow_tiers": ["economy"]}], "default": "deny"}',
    )
    policies = load_settings().policies
    assert policies.active
    assert policies.default == "deny"
    assert policies.rules[0].name == "interns"
    assert policies.rules[0].allow_tiers == ["economy"]


def test_a_model_pattern_that_matches_no_candidate_is_warned_about(
    make_muxer: MakeMuxer, caplog: pytest.LogCaptureFixture
) -> None:
    # "gpt-4o" is matched against whole ids ("offline/openai/gpt-4o"): a deny rule with it
    # denied nothing, silently, and the model it meant stayed allowed
    with caplog.at_level(logging.WARNING, logger="modelmuxer.policies"):
        muxer = _muxer(
            make_muxer,
            rules=[
                {"name": "no-4o", "deny_models": ["gpt-4o", "*mini"], "deny_providers": ["opnai"]},
                {"name": "fine", "allow_models": ["offline/*"], "allow_providers": ["OpenAI"]},
            ],
        )
    assert muxer.complete(EASY, model=GPT4O).model == GPT4O  # still allowed: the warning's point
    messages = [r.getMessage() for r in caplog.records if r.name == "modelmuxer.policies"]
    assert len(messages) == 2, messages
    assert (
        "policy 'no-4o': deny_models pattern 'gpt-4o' matches none of this muxer's models"
        in (messages[0])
    )
    assert "whole model ids" in messages[0]
    assert "policy 'no-4o': deny_providers 'opnai' is the provider of none of" in messages[1]


def test_the_cost_cap_is_shown_to_its_precision(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer, rules=[{"name": "tiny", "max_cost_usd": 0.0000001}])
    with pytest.raises(NoEligibleModel) as caught:
        muxer.complete(EASY)
    assert "exceeds the $0.0000001 a request may cost" in str(caught.value)
    assert "$0.000000 " not in str(caught.value)
