"""One priced ModelMuxer record per call through the Router: successes, failures, streams."""

from __future__ import annotations

import pytest
from _litellm_support import CHEAP, EASY, HARD, STRONG, MakeRouter, RecordSink, deployment
from _litellm_support import wait_for_records as wait

from modelmuxer.catalog import lookup_model
from modelmuxer.types import CallRecord, Identity
from modelmuxer_litellm import ROUTING_KEY
from modelmuxer_litellm.recorder import CallRecorder
from modelmuxer_litellm.routing_info import METADATA_KEY, RoutingInfo

pytestmark = pytest.mark.litellm

#: Two deployments of the *same* model name at different prices (say, a negotiated rate on
#: one account): LiteLLM has priced such deployments with each other's prices.
SAME_MODEL = [
    deployment("acct-a", "chat", CHEAP, input_cost_per_token=1e-6, output_cost_per_token=2e-6),
    deployment("acct-b", "chat", CHEAP, input_cost_per_token=5e-6, output_cost_per_token=7e-6),
]


def _routed(request_id: str = "req-1", *, by: str = "", user: str | None = None) -> RoutingInfo:
    """ModelMuxer's choice of the deployment ``mini`` for a request (as the filter makes it)."""
    return RoutingInfo(
        request_id=request_id,
        group="chat",
        deployment="mini",
        strategy="hybrid",
        reason="mini: the cheapest",
        identity=Identity(user=user),
        by=by,
    )


def _price(usage_prompt: int, usage_completion: int, inp: float, out: float) -> float:
    return usage_prompt * inp + usage_completion * out


async def test_one_record_per_call_priced_from_the_price_map(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    router, _ = make_router([deployment("mini", "chat", CHEAP), deployment("4o", "chat", STRONG)])
    answer = await router.acompletion(model="chat", messages=EASY)
    (record,) = await wait(sink, 1)
    _, entry = lookup_model(CHEAP) or (None, {})
    usage = answer.usage
    assert (record.model, record.outcome, record.attempt) == ("mini", "ok", 0)
    assert record.usage.prompt_tokens == usage.prompt_tokens > 0
    assert record.usage.completion_tokens == usage.completion_tokens > 0
    assert record.cost_usd == pytest.approx(
        _price(
            usage.prompt_tokens,
            usage.completion_tokens,
            entry["input_cost_per_token"],
            entry["output_cost_per_token"],
        )
    )
    assert record.provider == "openai"
    assert record.strategy == "hybrid"
    assert record.request_id == answer._hidden_params["modelmuxer"]["request_id"]
    assert record.features  # the query features routing computed, for learning
    # records are built without validation on this hot path: they must still be valid
    assert CallRecord.model_validate(record.model_dump()) == record


async def test_deployments_sharing_a_model_name_are_priced_separately(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    router, _ = make_router(SAME_MODEL)
    for allowed in ("acct-a", "acct-b"):
        answer = await router.acompletion(
            model="chat", messages=EASY, metadata={ROUTING_KEY: {"allow": [allowed]}}
        )
        assert answer._hidden_params["model_id"] == allowed
    records = await wait(sink, 2)
    prices = {"acct-a": (1e-6, 2e-6), "acct-b": (5e-6, 7e-6)}
    for record in records:
        inp, out = prices[record.model]
        expected = _price(record.usage.prompt_tokens, record.usage.completion_tokens, inp, out)
        assert record.cost_usd == pytest.approx(expected)
    assert {r.model for r in records} == {"acct-a", "acct-b"}


async def test_failed_attempts_are_recorded(make_router: MakeRouter, sink: RecordSink) -> None:
    router, _ = make_router(
        [
            deployment("mini", "chat", CHEAP, answer="litellm.RateLimitError"),
            deployment("4o", "chat", STRONG),
        ],
        router_kwargs={"num_retries": 2},
    )
    await router.acompletion(model="chat", messages=EASY)
    failed, ok = await wait(sink, 2)
    assert (failed.model, failed.outcome, failed.attempt) == ("mini", "error", 0)
    assert failed.cost_usd == 0.0
    assert failed.error is not None
    assert "RateLimitError" in failed.error
    assert (ok.model, ok.outcome, ok.attempt) == ("4o", "ok", 1)
    assert ok.request_id == failed.request_id
    assert ok.strategy == "hybrid"  # the retry was routed again, among what was left
    for record in (failed, ok):  # built unvalidated on the hot path: still valid
        assert CallRecord.model_validate(record.model_dump()) == record


async def test_a_request_that_fails_everywhere_records_every_attempt(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    router, _ = make_router(
        [deployment("down", "chat", CHEAP, answer="litellm.InternalServerError")],
        router_kwargs={"num_retries": 1},
    )
    with pytest.raises(Exception, match="InternalServerError"):
        await router.acompletion(model="chat", messages=EASY)
    records = await wait(sink, 1)
    assert records
    assert {(r.model, r.outcome) for r in records} == {("down", "error")}
    assert sorted(r.attempt for r in records) == list(range(len(records)))


async def test_streamed_calls_are_recorded_with_usage(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    router, _ = make_router([deployment("mini", "chat", CHEAP, answer="one two three four")])
    stream = await router.acompletion(
        model="chat", messages=EASY, stream=True, stream_options={"include_usage": True}
    )
    text = "".join(
        [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    )
    assert text == "one two three four"
    (record,) = await wait(sink, 1)
    assert record.streamed
    assert record.outcome == "ok"
    assert record.usage.completion_tokens > 0
    assert record.cost_usd > 0.0
    assert record.ttft_s is not None


async def test_identity_from_user_and_metadata(make_router: MakeRouter, sink: RecordSink) -> None:
    router, _ = make_router([deployment("mini", "chat", CHEAP)])
    await router.acompletion(
        model="chat",
        messages=EASY,
        user="alice",
        metadata={"org": "acme", "project": "search", "role": "admin", "tags": ["beta"]},
    )
    (record,) = await wait(sink, 1)
    assert record.identity == Identity(user="alice", org="acme", project="search", role="admin")
    assert record.tags == frozenset({"beta"})
    assert CallRecord.model_validate(record.model_dump()) == record


async def test_identity_from_proxy_key_and_team(make_router: MakeRouter, sink: RecordSink) -> None:
    """The proxy writes the key's owner, team and organisation into the request metadata."""
    router, _ = make_router([deployment("mini", "chat", CHEAP)])
    proxy_metadata = {
        "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "user_api_key_alias": None,
        "user_api_key_user_id": "u-42",
        "user_api_key_team_id": "team-7",
        "user_api_key_team_alias": "search",
        "user_api_key_org_id": "org-1",
    }
    await router.acompletion(model="chat", messages=EASY, metadata=proxy_metadata)
    (record,) = await wait(sink, 1)
    assert record.identity == Identity(user="u-42", org="org-1", project="team-7")
    assert record.tags == frozenset({"key:88dc28d0f030", "team:search"})


async def test_sync_calls_are_recorded(make_router: MakeRouter, sink: RecordSink) -> None:
    router, _ = make_router([deployment("mini", "chat", CHEAP), deployment("4o", "chat", STRONG)])
    router.completion(model="chat", messages=HARD)
    (record,) = await wait(sink, 1)
    assert (record.model, record.outcome, record.strategy) == ("4o", "ok", "hybrid")


async def test_calls_outside_the_router_are_not_recorded(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    import litellm

    make_router([deployment("mini", "chat", CHEAP)])
    await litellm.acompletion(model=CHEAP, messages=EASY, mock_response="direct")
    router, _ = make_router([deployment("x", "chat", CHEAP)])
    await router.acompletion(model="chat", messages=EASY)
    records = await wait(sink, 1)
    assert [r.model for r in records] == ["x"]


def test_a_deployment_key_echoed_in_an_error_is_not_recorded() -> None:
    """A provider may echo the key in a shape no pattern knows: it is scrubbed by value."""
    from datetime import UTC, datetime

    from modelmuxer_litellm.records import build_record

    canary = "zz9-canary-0123456789abcdef"
    info = _routed("r1")
    now = datetime.now(UTC)
    record = build_record(
        {"litellm_params": {"api_key": canary}, "exception": ValueError(f"bad key {canary}")},
        None,
        now,
        now,
        card=None,
        info=info,
        attempt=0,
        outcome="error",
    )
    assert record.error is not None
    assert "ValueError" in record.error
    assert canary not in record.error


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
)
def test_litellm_naive_local_times_become_utc_in_any_zone(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM reports naive local times; the record's are UTC, also across a zone's DST
    changes (the offset is cached per hour)."""
    import time
    from datetime import UTC, datetime

    from modelmuxer_litellm import records

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    records._OFFSETS.clear()
    try:
        for naive in (
            datetime(2026, 3, 29, 0, 30),
            datetime(2026, 3, 29, 3, 30),
            datetime(2026, 4, 5, 1, 45),
            datetime(2026, 10, 4, 2, 15),
            datetime(2026, 10, 25, 1, 59, 59),
            datetime(2026, 11, 1, 3, 10),
            datetime(2026, 7, 1, 12, 0, 5, 123),
        ):
            for _ in range(2):  # computed, then from the cache
                found = records._as_datetime(naive)
                assert found == naive.astimezone(UTC)
                assert found.tzinfo is UTC
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        records._OFFSETS.clear()


def test_usage_is_read_from_responses_and_dicts_as_validated_usage() -> None:
    from litellm.types.utils import ModelResponse
    from litellm.types.utils import Usage as LiteLLMUsage

    from modelmuxer.types import Usage
    from modelmuxer_litellm.records import usage_of

    response = ModelResponse(
        usage=LiteLLMUsage(
            prompt_tokens=120,
            completion_tokens=30,
            total_tokens=150,
            prompt_tokens_details={"cached_tokens": 100},
        )
    )
    cases: list[tuple[object, Usage]] = [
        (response, Usage(prompt_tokens=120, completion_tokens=30, cached_tokens=100)),
        (
            {"usage": {"prompt_tokens": 7, "completion_tokens": 2}},
            Usage(prompt_tokens=7, completion_tokens=2),
        ),
        # more cached than prompt tokens (a provider's miscount): capped at the prompt
        (
            {"usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}},
            Usage(prompt_tokens=5, cached_tokens=5),
        ),
        # what is not a non-negative int counts as none
        (
            {"usage": {"prompt_tokens": -3, "completion_tokens": True, "cached_tokens": "4"}},
            Usage(),
        ),
        ({"usage": None}, Usage()),
        (None, Usage()),
    ]
    for given, expected in cases:
        usage = usage_of(given)
        assert usage == expected
        assert usage.model_dump_json() == expected.model_dump_json()
        assert all(type(getattr(usage, name)) is int for name in Usage.model_fields)


@pytest.mark.parametrize(
    "zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_local_times_around_every_dst_change_of_a_year_convert_as_astimezone_does(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every minute of the two hours around each offset change of 2026 (both folds, odd seconds
    and microseconds), and a coarse sweep of the year: computed, then read from the cache."""
    import time
    from datetime import UTC, datetime, timedelta

    from modelmuxer_litellm import records

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    records._OFFSETS.clear()
    try:
        hours = [datetime(2026, 1, 1) + timedelta(hours=h) for h in range(24 * 365)]
        offsets = [h.astimezone(UTC).replace(tzinfo=None) - h for h in hours]
        changes = [hours[i] for i in range(1, len(hours)) if offsets[i] != offsets[i - 1]]
        assert zone in ("Asia/Kolkata", "UTC") or len(changes) >= 2
        times = [
            at + timedelta(minutes=m, seconds=m % 60, microseconds=7 * m)
            for at in changes
            for m in range(-120, 121)
        ]
        times += [hours[0] + timedelta(minutes=97 * k, seconds=13) for k in range(5418)]
        for naive in times:
            for fold in (0, 1):
                local = naive.replace(fold=fold)
                for _ in range(2):
                    found = records._as_datetime(local)
                    assert found == local.astimezone(UTC), (local, found)
                    assert found.tzinfo is UTC
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        records._OFFSETS.clear()


def test_the_proxys_report_of_a_departed_clients_stream_is_a_cancelled_call() -> None:
    """When its client disconnects mid-stream, the LiteLLM proxy reports the answer streamed so
    far as a success, with ``client_disconnected`` in a ``metadata`` it adds beside the
    request's: a ``cancelled`` call of the request ModelMuxer routed, reported once."""
    recorder = CallRecorder(owns=lambda _: True, card_by_id=lambda _: None)
    info = _routed(user="ann")
    recorder.memo.remember(info)
    kwargs = {
        "litellm_call_id": "call-1",
        "stream": True,
        "response_cost": 0.002,
        "metadata": {"client_disconnected": True},
        "litellm_params": {
            "model_info": {"id": "mini"},
            "metadata": {METADATA_KEY: info.to_metadata()},
        },
    }
    partial = {"usage": {"prompt_tokens": 9, "completion_tokens": 4}}
    record = recorder.record(kwargs, partial, None, None, "ok")
    assert record is not None
    assert (record.request_id, record.strategy, record.outcome) == ("req-1", "hybrid", "cancelled")
    assert (record.usage.prompt_tokens, record.usage.completion_tokens) == (9, 4)
    assert record.cost_usd == pytest.approx(0.002)
    assert record.identity.user == "ann"
    assert recorder.record(kwargs, partial, None, None, "ok") is None  # once per call
    kwargs = {**kwargs, "litellm_call_id": "call-2", "metadata": {}}
    assert recorder.record(kwargs, partial, None, None, "ok").outcome == "ok"  # type: ignore[union-attr]


def test_a_call_another_registration_routed_is_not_recorded_here() -> None:
    """``unregister`` then ``register`` on one router: LiteLLM may report a call the first
    registration routed after the second is in place; it is the first's (its plugins), not
    the second's."""
    info = _routed(by="first")

    def report(recorder: CallRecorder, call_id: str, data: dict[str, object]) -> object:
        kwargs = {
            "litellm_call_id": call_id,
            "response_cost": 0.001,
            "litellm_params": {"model_info": {"id": "mini"}, "metadata": {METADATA_KEY: data}},
        }
        partial = {"usage": {"prompt_tokens": 9, "completion_tokens": 4}}
        return recorder.record(kwargs, partial, None, None, "ok")

    second = CallRecorder(owns=lambda _: True, card_by_id=lambda _: None, instance_id="second")
    assert report(second, "call-1", info.to_metadata()) is None
    assert report(second, "call-2", {**info.to_metadata(), "by": "second"}) is not None
    first = CallRecorder(owns=lambda _: True, card_by_id=lambda _: None, instance_id="first")
    record = report(first, "call-1", info.to_metadata())
    assert isinstance(record, CallRecord)
    assert (record.request_id, record.strategy) == ("req-1", "hybrid")


async def test_requests_sharing_one_metadata_dict_are_separate_requests(
    make_router: MakeRouter, sink: RecordSink
) -> None:
    """LiteLLM and ModelMuxer write into the metadata dict a caller passes (ModelMuxer's choice
    under ``metadata["modelmuxer"]``), and callers reuse one dict (a constant, a per-user
    default): a later request must not be taken for a retry of the first (one request id,
    attempts 0, 1, 2...)."""
    router, _ = make_router([deployment("mini", "chat", CHEAP), deployment("4o", "chat", STRONG)])
    shared = {"org": "acme"}
    answers = [await router.acompletion(model="chat", messages=EASY, metadata=shared) for _ in "ab"]
    ids = [answer._hidden_params["modelmuxer"]["request_id"] for answer in answers]
    assert ids[0] != ids[1]
    records = await wait(sink, 2)
    assert sorted((r.request_id, r.attempt) for r in records) == sorted((i, 0) for i in ids)
