"""The call record every ``modelmuxer_record`` listener hears (metrics, the ledger, user sinks):
built once per call and shared, and equal to what validating it would make, although the
pipeline builds it from already validated values without validating them again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import Muxer, hookimpl
from modelmuxer.config import MuxerSettings
from modelmuxer.context import RequestContext
from modelmuxer.types import CallRecord

MINI = "offline/openai/gpt-4o-mini"
PROMPT = "Explain how photosynthesis turns light into sugar."


async def _every_kind_of_call(muxer: Muxer) -> None:
    """An answer, a cache hit, a cascade's escalations, a failure and a stream."""
    await muxer.acomplete(PROMPT, identity={"user": "ann", "org": "acme"}, tags=["beta"])
    await muxer.acomplete(PROMPT, identity={"user": "ann", "org": "acme"}, tags=["beta"])
    await muxer.acomplete(
        "Tell me about the moon.", strategy="cascade", metadata={"offline": {"refuse": True}}
    )
    with pytest.raises(Exception, match="simulated bad request"):
        await muxer.acomplete(PROMPT, model=MINI, metadata={"offline": {"fail": "bad_request"}})
    async for _ in muxer.astream("Describe glaciers.", metadata={"named_model": MINI}):
        pass


@pytest.fixture
def listened(make_muxer: MakeMuxer) -> tuple[Muxer, Recorder, Recorder]:
    first, second = Recorder(), Recorder()
    settings = MuxerSettings(cache={"enabled": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings, plugins=[first, second])
    muxer.telemetry.enable_metrics()
    return muxer, first, second


async def test_one_record_per_call_is_shared_by_every_listener(
    listened: tuple[Muxer, Recorder, Recorder],
) -> None:
    muxer, first, second = listened
    await _every_kind_of_call(muxer)
    outcomes = {r.outcome for r in first.records}
    assert {"ok", "escalated", "error"} <= outcomes
    assert {r.cache for r in first.records} >= {"miss", "exact"}
    assert any(r.streamed for r in first.records)
    assert len(first.records) == len(second.records)
    for mine, theirs in zip(first.records, second.records, strict=True):
        assert mine is theirs  # built once, heard by all


async def test_the_records_are_what_validation_makes_of_them(
    listened: tuple[Muxer, Recorder, Recorder],
) -> None:
    muxer, recorder, _ = listened
    await _every_kind_of_call(muxer)
    assert recorder.records
    for record in recorder.records:
        assert CallRecord.model_validate(record.model_dump()) == record
        assert record.model_fields_set == set(CallRecord.model_fields)
        assert set(vars(record)) == set(CallRecord.model_fields)
        assert isinstance(record.started_at, datetime)
        assert record.started_at.tzinfo is UTC
        for name in ("cost_usd", "latency_s", "saved_usd"):
            assert type(getattr(record, name)) is float, name
        assert type(record.tags) is frozenset
    hit = next(r for r in recorder.records if r.cache == "exact")
    assert hit.identity.user == "ann"
    assert hit.tags == frozenset({"beta"})
    assert any(r.named_model == MINI for r in recorder.records)
    assert any(r.error and r.error.startswith("ProviderError") for r in recorder.records)


class Retagger:
    """Rewrites the request without validation, as ``RequestContext`` allows."""

    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        ctx.request = ctx.request.model_copy(update={"tags": ["rewritten"]})


async def test_a_value_a_plugin_set_unvalidated_is_validated_in_the_record(
    make_muxer: MakeMuxer,
) -> None:
    recorder = Recorder()
    muxer = make_muxer(OFFLINE_MODELS, plugins=[Retagger(), recorder])
    await muxer.acomplete(PROMPT)
    (record,) = recorder.records
    assert record.tags == frozenset({"rewritten"})
    assert type(record.tags) is frozenset


def test_a_trusted_record_needs_every_field() -> None:
    with pytest.raises(TypeError, match="every field"):
        CallRecord.trusted({"request_id": "r1", "attempt": 0})
