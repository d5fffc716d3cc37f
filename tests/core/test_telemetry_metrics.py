"""Prometheus metrics: a mixed offline run scraped and checked against the ledger's rows; event
metrics; bounded labels; registries; the HTTP exporter; multi-process mode."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import weakref
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _ledger_support import afetch_rows, sqlite_settings
from _support import OFFLINE_MODELS, MakeMuxer, Recorder
from _telemetry_support import Scrape
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
from modelmuxer.errors import ConfigError
from modelmuxer.events import emit
from modelmuxer.telemetry import METRICS, MetricsPlugin, TelemetrySettings, exposed_names
from modelmuxer.types import Usage

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
TOPICS = ("photosynthesis", "plate tectonics", "the water cycle", "compound interest")
BUDGETS = [
    {"scope": "global", "period": "day", "limit_usd": "100"},
    {"scope": "org", "subject": "acme", "period": "month", "limit_usd": "50"},
    {"scope": "user", "subject": "*", "period": "day", "limit_usd": "10"},
]


def _settings(tmp_path: Path, **telemetry: Any) -> MuxerSettings:
    return MuxerSettings(
        ledger=sqlite_settings(tmp_path),
        cache={"enabled": True},
        budgets={"budgets": BUDGETS},
        telemetry={"metrics": True, **telemetry},
        load_entrypoints=False,
    )


def _who(i: int) -> dict[str, str]:
    return {"user": f"user-{i}", "org": "acme", "project": "search"}


async def _mixed_run(muxer: Muxer) -> dict[str, int]:
    """Successes, cache hits, cascade escalations, a failure and streams; what was asked."""
    for i, topic in enumerate(TOPICS):
        await muxer.acomplete(f"Explain {topic} in two sentences.", identity=_who(i))
    for i, topic in enumerate(TOPICS[:3]):  # the same prompts again: exact cache hits
        await muxer.acomplete(f"Explain {topic} in two sentences.", identity=_who(i))
    for topic in ("the moon", "tides"):  # every model refuses: the cascade escalates to the end
        await muxer.acomplete(
            f"Tell me about {topic}.",
            strategy="cascade",
            metadata={"offline": {"refuse": True}},
            identity=_who(9),
        )
    with pytest.raises(Exception, match="simulated bad request"):
        await muxer.acomplete(
            "Summarise this contract.",
            model=MINI,
            metadata={"offline": {"fail": "bad_request"}},
            identity=_who(7),
        )
    for topic in ("volcanoes", "glaciers"):
        async for _ in muxer.astream(f"Describe {topic}.", identity=_who(8)):
            pass
    return {"ok": len(TOPICS) + 3 + 2 + 2, "error": 1, "hits": 3}


@pytest.mark.slow
async def test_a_mixed_run_matches_the_ledger(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    muxer = make_muxer(OFFLINE_MODELS, settings=_settings(tmp_path))
    asked = await _mixed_run(muxer)
    assert muxer.telemetry.metrics is not None
    assert muxer.budgets is not None
    global_day = await muxer.budgets.state("global/day")
    acme = await muxer.budgets.state("org:acme/month")
    scrape = Scrape(muxer.telemetry.metrics.scrape().decode())
    await muxer.aclose()
    rows = await afetch_rows(muxer.settings.ledger.resolved_url())
    calls = [r for r in rows if r["cache"] not in ("exact", "semantic")]
    hits = [r for r in rows if r["cache"] in ("exact", "semantic")]

    # requests and errors
    assert scrape.by("modelmuxer_requests_total", "outcome") == {
        ("ok",): asked["ok"],
        ("error",): asked["error"],
    }
    assert scrape.by("modelmuxer_request_errors_total", "error_type") == {("ProviderError",): 1}
    assert scrape.total("modelmuxer_request_duration_seconds_count") == asked["ok"] + 1
    # every model call, by model and outcome, as in the ledger
    expected_calls = Counter((r["model"], r["outcome"]) for r in calls)
    assert scrape.by("modelmuxer_model_calls_total", "model", "outcome") == expected_calls
    assert Counter(o for _, o in expected_calls.elements())["escalated"] >= 2
    assert scrape.total("modelmuxer_cascade_escalations_total") == sum(
        1 for r in calls if r["outcome"] == "escalated"
    )
    assert scrape.total("modelmuxer_routing_decisions_total") == sum(
        1 for r in calls if r["attempt"] == 0
    )
    assert scrape.total("modelmuxer_model_call_duration_seconds_count") == len(calls)
    assert scrape.total("modelmuxer_time_to_first_token_seconds_count") == sum(
        1 for r in calls if r["ttft_s"] is not None
    )
    # tokens and money
    for model in {r["model"] for r in calls}:
        mine = [r for r in calls if r["model"] == model]
        assert scrape.total("modelmuxer_tokens_total", model=model, type="input") == sum(
            r["prompt_tokens"] for r in mine
        )
        assert scrape.total("modelmuxer_tokens_total", model=model, type="output") == sum(
            r["completion_tokens"] for r in mine
        )
        spent = sum((r["cost_usd"] for r in mine), Decimal(0))
        assert scrape.total("modelmuxer_cost_usd_total", model=model) == pytest.approx(
            float(spent), rel=1e-9, abs=1e-12
        )
    if_strongest = sum((r["cost_if_strongest_usd"] or Decimal(0) for r in calls), Decimal(0))
    assert scrape.total("modelmuxer_cost_if_strongest_usd_total") == pytest.approx(
        float(if_strongest), rel=1e-9
    )
    # the cache
    assert len(hits) == asked["hits"]
    assert scrape.by("modelmuxer_cache_requests_total", "result") == {
        ("exact",): len(hits),
        ("miss",): len({r["request_id"] for r in calls}),
    }
    saved = sum((r["saved_usd"] for r in hits), Decimal(0))
    assert saved > 0
    assert scrape.total("modelmuxer_cache_saved_usd_total") == pytest.approx(float(saved))
    # budgets: as the guard's store says, for the budgets that name their subject
    assert global_day.spent_usd > 0
    for state in (global_day, acme):
        name = state.budget.name
        assert scrape.total("modelmuxer_budget_spent_usd", budget=name) == pytest.approx(
            float(state.spent_usd)
        )
        assert scrape.total("modelmuxer_budget_remaining_usd", budget=name) == pytest.approx(
            float(state.remaining_usd)
        )
        assert scrape.total("modelmuxer_budget_limit_usd", budget=name) == float(state.limit_usd)
    assert scrape.total("modelmuxer_budget_reserved_usd", budget="global/day") == 0.0
    assert {labels.get("budget") for name, labels, _ in scrape.samples() if "budget_" in name} == {
        "global/day",
        "org:acme/month",
    }


async def test_cost_if_strongest_prices_each_answer_on_the_strongest_model(
    make_muxer: MakeMuxer,
) -> None:
    recorder = Recorder()
    muxer = make_muxer(OFFLINE_MODELS, plugins=[recorder])
    metrics = muxer.telemetry.enable_metrics()
    for topic in TOPICS[:2]:
        await muxer.acomplete(f"Explain {topic} in two sentences.")
    await muxer.acomplete(
        "Tell me about the moon.", strategy="cascade", metadata={"offline": {"refuse": True}}
    )
    # a call whose prompt a provider cache partly served: told to the metrics directly
    usage = Usage(prompt_tokens=1200, completion_tokens=30, cached_tokens=1000)
    cached = recorder.records[0].model_copy(update={"usage": usage, "attempt": 5})
    metrics.modelmuxer_record(cached)
    strongest = max(muxer.catalog, key=lambda c: (c.quality, c.output_cost_per_token))
    answered = [r for r in [*recorder.records, cached] if r.outcome != "escalated"]
    assert any(r.outcome == "escalated" for r in recorder.records)  # left out of the sum
    expected = sum(
        strongest.cost_usd(r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens)
        for r in answered
    )
    scrape = Scrape(metrics.scrape().decode())
    assert scrape.total("modelmuxer_cost_if_strongest_usd_total") == pytest.approx(expected)
    assert expected > 0


async def test_labels_are_bounded(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    muxer = make_muxer(OFFLINE_MODELS, settings=_settings(tmp_path))
    await _mixed_run(muxer)
    assert muxer.telemetry.metrics is not None
    emit(muxer.plugins, "ratelimit.rejected", scope="user", subject="user-3", kind="requests")
    scrape = Scrape(muxer.telemetry.metrics.scrape().decode())
    values = scrape.label_values()
    assert not {v for v in values if v.startswith("user-")}, "a user id became a label"
    assert "acme" not in values
    assert "search" not in values
    allowed = {
        *(spec.labels for spec in METRICS),
    }
    for name, labels, _ in scrape.samples():
        keys = set(labels) - {"le"}
        assert any(keys <= set(spec) for spec in allowed), (name, keys)


async def test_identity_labels_are_opt_in_and_capped(make_muxer: MakeMuxer) -> None:
    settings = MuxerSettings(
        telemetry={"metrics": True, "identity_labels": ["org"], "identity_label_limit": 2},
        load_entrypoints=False,
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    for org in ("acme", "globex", "initech", "umbrella"):
        await muxer.acomplete("Hello there!", identity={"org": org, "user": "u1"}, model=MINI)
    assert muxer.telemetry.metrics is not None
    scrape = Scrape(muxer.telemetry.metrics.scrape().decode())
    assert scrape.by("modelmuxer_requests_total", "org") == {
        ("acme",): 1,
        ("globex",): 1,
        ("other",): 2,
    }
    assert set(scrape.by("modelmuxer_cost_usd_total", "org")) == {
        ("acme",),
        ("globex",),
        ("other",),
    }
    assert "u1" not in scrape.label_values()


async def test_operational_events_are_counted(muxer: Muxer) -> None:
    metrics = muxer.telemetry.enable_metrics()
    pm = muxer.plugins
    emit(pm, "retry", model=MINI, attempt=1, delay_s=0.5, error="ProviderError")
    emit(pm, "retry", model=MINI, attempt=2, delay_s=1.0, error="ProviderError")
    emit(pm, "fallback", from_model=MINI, to_model=FOUR_O, reason="server_error")
    emit(pm, "ratelimit.rejected", scope="org", subject="acme", kind="tokens", retry_after_s=3)
    emit(pm, "shared_state.unavailable", component="budgets", rule="open", error="timeout")
    emit(pm, "policy.denied", rule="no-external-models", model=FOUR_O)
    emit(pm, "pii.redacted", counts={"email": 2, "phone": 1})
    emit(pm, "breaker.opened", model=FOUR_O, failures=5)
    scrape = Scrape(metrics.scrape().decode())
    assert scrape.total("modelmuxer_retries_total", model=MINI) == 2
    assert scrape.total("modelmuxer_fallbacks_total", from_model=MINI, to_model=FOUR_O) == 1
    assert scrape.total("modelmuxer_ratelimit_rejections_total", scope="org", kind="tokens") == 1
    assert scrape.total("modelmuxer_shared_state_unavailable_total", component="budgets") == 1
    assert scrape.total("modelmuxer_policy_denials_total", rule="no-external-models") == 1
    assert scrape.by("modelmuxer_pii_redactions_total", "kind") == {("email",): 2, ("phone",): 1}
    assert scrape.total("modelmuxer_breaker_state", model=FOUR_O) == 2
    emit(pm, "breaker.half_open", model=FOUR_O)
    assert Scrape(metrics.scrape().decode()).total("modelmuxer_breaker_state", model=FOUR_O) == 1
    emit(pm, "breaker.closed", model=FOUR_O)
    scrape = Scrape(metrics.scrape().decode())
    assert scrape.total("modelmuxer_breaker_state", model=FOUR_O) == 0
    assert scrape.by("modelmuxer_breaker_transitions_total", "state") == {
        ("opened",): 1,
        ("half_open",): 1,
        ("closed",): 1,
    }
    assert "acme" not in scrape.label_values()  # the subject of a rejection is never a label


async def test_an_event_metric_stops_growing_at_its_label_limit(muxer: Muxer) -> None:
    metrics = muxer.telemetry.enable_metrics()
    for i in range(250):
        emit(muxer.plugins, "policy.denied", rule=f"rule-{i}", model=MINI)
    rules = Scrape(metrics.scrape().decode()).by("modelmuxer_policy_denials_total", "rule")
    assert len(rules) == 201
    assert rules[("other",)] == 50


def test_many_muxers_each_have_their_own_registry(make_muxer: MakeMuxer) -> None:
    settings = MuxerSettings(telemetry={"metrics": True}, load_entrypoints=False)
    muxers = [make_muxer(OFFLINE_MODELS, settings=settings) for _ in range(5)]
    muxers[0].complete("Hello!", model=MINI)
    scrapes = [Scrape(m.telemetry.metrics.scrape().decode()) for m in muxers if m.telemetry.metrics]
    assert [s.total("modelmuxer_requests_total") for s in scrapes] == [1, 0, 0, 0, 0]


def test_muxers_can_share_a_registry(make_muxer: MakeMuxer) -> None:
    registry = CollectorRegistry()
    first, second = make_muxer(), make_muxer()
    one = first.telemetry.enable_metrics(registry=registry)
    two = second.telemetry.enable_metrics(registry=registry)
    first.complete("Hello!", model=MINI)
    second.complete("Hello!", model=FOUR_O)
    scrape = Scrape(one.scrape().decode())
    assert scrape.total("modelmuxer_requests_total") == 2
    assert two.scrape() == one.scrape()
    other = TelemetrySettings(metrics=True, identity_labels=("org",))
    with pytest.raises(ConfigError, match="identity_labels"):
        MetricsPlugin(other, registry=registry)


def test_the_global_registry_is_prometheus_clients(make_muxer: MakeMuxer) -> None:
    settings = MuxerSettings(
        telemetry={"metrics": True, "metrics_registry": "global"}, load_entrypoints=False
    )
    first = make_muxer(OFFLINE_MODELS, settings=settings)
    second = make_muxer(OFFLINE_MODELS, settings=settings)  # no duplicate registration
    assert first.telemetry.metrics is not None
    assert second.telemetry.metrics is not None
    assert first.telemetry.metrics.registry is REGISTRY
    before = _global_calls()
    first.complete("Hello!", model=MINI)
    second.complete("Hello!", model=MINI)
    assert _global_calls() == before + 2


def _global_calls() -> float:
    return Scrape(generate_latest(REGISTRY).decode()).total(
        "modelmuxer_model_calls_total", model=MINI, outcome="ok"
    )


def test_the_http_exporter_serves_and_stops(make_muxer: MakeMuxer) -> None:
    settings = MuxerSettings(telemetry={"metrics": True, "metrics_port": 0}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    muxer.complete("Hello!", model=MINI)
    metrics = muxer.telemetry.metrics
    assert metrics is not None
    assert metrics.port
    url = f"http://127.0.0.1:{metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    assert Scrape(body).total("modelmuxer_requests_total", model=MINI) == 1
    muxer.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_enabling_metrics_again_applies_the_port_and_refuses_another_registry(
    make_muxer: MakeMuxer,
) -> None:
    # metrics on from the settings, then enable_metrics(port=...): the port used to be ignored
    settings = MuxerSettings(telemetry={"metrics": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    metrics = muxer.telemetry.enable_metrics(port=0)
    assert metrics is muxer.telemetry.metrics
    assert metrics.port
    assert muxer.telemetry.settings.metrics_port == 0
    muxer.complete("Hello!", model=MINI)
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/metrics", timeout=5) as r:
        assert Scrape(r.read().decode()).total("modelmuxer_requests_total", model=MINI) == 1
    assert muxer.telemetry.enable_metrics(registry=metrics.registry) is metrics
    with pytest.raises(ConfigError, match="already on"):
        muxer.telemetry.enable_metrics(registry=CollectorRegistry())


def test_a_busy_port_is_a_config_error(make_muxer: MakeMuxer) -> None:
    first = make_muxer().telemetry.enable_metrics(port=0)
    assert first.port
    settings = MuxerSettings(
        telemetry={"metrics": True, "metrics_port": first.port}, load_entrypoints=False
    )
    with pytest.raises(ConfigError, match="metrics_port"):
        Muxer(OFFLINE_MODELS, settings=settings)


def test_every_metric_is_registered_under_its_documented_name() -> None:
    registry = CollectorRegistry()
    MetricsPlugin(TelemetrySettings(metrics=True), registry=registry)
    families = {family.name: family.type for family in registry.collect()}
    assert families == {spec.name: spec.kind for spec in METRICS}
    assert "modelmuxer_requests_total" in exposed_names()


WORKER = textwrap.dedent(
    """
    import sys
    from modelmuxer import Muxer
    from modelmuxer.config import MuxerSettings

    settings = MuxerSettings(
        telemetry={"metrics": True},
        budgets={"budgets": [{"scope": "global", "period": "day", "limit_usd": "100"}]},
        load_entrypoints=False,
    )
    with Muxer(["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"], settings=settings) as m:
        for i in range(int(sys.argv[1])):
            m.complete(f"Question number {i}?", model="offline/openai/gpt-4o-mini")
    """
)


@pytest.mark.slow
def test_multi_process_mode_adds_up_every_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env, stderr=subprocess.PIPE)
        for n in (3, 4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(tmp_path))
    scrape = Scrape(generate_latest(merged).decode())
    assert scrape.total("modelmuxer_requests_total", model=MINI, outcome="ok") == 7
    assert scrape.total("modelmuxer_model_calls_total", model=MINI) == 7
    remaining = merged.get_sample_value("modelmuxer_budget_remaining_usd", {"budget": "global/day"})
    assert remaining is not None
    assert 99 < remaining < 100


TWO_MUXERS = textwrap.dedent(
    """
    from modelmuxer import Muxer
    from modelmuxer.config import MuxerSettings

    settings = MuxerSettings(telemetry={"metrics": True}, load_entrypoints=False)
    models = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
    with Muxer(models, settings=settings) as a, Muxer(models, settings=settings) as b:
        for i in range(3):
            a.complete(f"Question number {i}?", model="offline/openai/gpt-4o-mini")
            b.complete(f"Question number {i}?", model="offline/openai/gpt-4o-mini")
    """
)


@pytest.mark.slow
def test_multi_process_mode_counts_every_muxer_of_a_process(tmp_path: Path) -> None:
    # one muxer per tenant in a gunicorn worker: each has its own registry, but the values
    # live in the worker's files, where two objects for one series overwrote each other
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    subprocess.run([sys.executable, "-c", TWO_MUXERS], env=env, check=True, timeout=120)
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(tmp_path))
    scrape = Scrape(generate_latest(merged).decode())
    assert scrape.total("modelmuxer_requests_total", model=MINI, outcome="ok") == 6
    assert scrape.total("modelmuxer_model_calls_total", model=MINI) == 6
    assert scrape.total("modelmuxer_request_duration_seconds_count") == 6
    assert scrape.total("modelmuxer_cache_requests_total") == 0  # no cache: not consulted


@pytest.mark.slow
def test_telemetry_off_imports_neither_prometheus_nor_opentelemetry() -> None:
    probe = textwrap.dedent(
        """
        import sys
        from modelmuxer import Muxer
        with Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False) as muxer:
            muxer.complete("Hello!")
        print(sorted({m.split(".")[0] for m in sys.modules
                      if m.startswith(("prometheus_client", "opentelemetry"))}))
        """
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_dropped_muxers_registry_is_freed() -> None:
    muxer = Muxer(OFFLINE_MODELS, load_entrypoints=False)
    metrics = muxer.telemetry.enable_metrics()
    muxer.complete("Hello!", model=MINI)
    registry = weakref.ref(metrics.registry)
    muxer.close()
    del muxer, metrics
    gc.collect()
    assert registry() is None
