"""Streaming: chunks add up to the completion, usage and cost come last, early stops count."""

from __future__ import annotations

from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import Muxer, ProviderError, ProviderTimeout, StreamChunk
from modelmuxer.testing import make_card, make_tool
from modelmuxer.types import Deployment, ModelCard

MINI, FOUR_O, HAIKU = OFFLINE_MODELS
PROMPT = "Explain how photosynthesis turns light, water and carbon dioxide into sugar."


async def _collect(muxer: Muxer, prompt: Any = PROMPT, **kwargs: Any) -> list[StreamChunk]:
    return [chunk async for chunk in muxer.astream(prompt, **kwargs)]


@pytest.mark.parametrize("model", OFFLINE_MODELS)
async def test_chunks_concatenate_to_the_completion(muxer: Muxer, model: str) -> None:
    chunks = await _collect(muxer, model=model)
    content, last = chunks[:-1], chunks[-1]
    assert len(content) > 1  # really streamed, not one blob
    completion = last.completion
    assert completion is not None
    assert last.text == ""
    assert last.tool_calls == []
    assert "".join(c.text for c in content) == completion.text
    assert all(c.model == model and c.completion is None for c in content)
    assert completion.model == model
    # The same answer as a non-streamed call, with the same usage and cost.
    whole = await muxer.acomplete(PROMPT, model=model)
    assert completion.text == whole.text
    assert completion.usage == whole.usage
    card = muxer.catalog.get(model)
    usage = completion.usage
    assert usage.completion_tokens > 0
    assert completion.cost_usd == pytest.approx(
        card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    )
    assert completion.cost_usd > 0
    assert completion.finish_reason == "stop"
    assert [a.outcome for a in completion.attempts] == ["accepted"]


async def test_stream_record(recorded: Muxer, recorder: Recorder) -> None:
    chunks = await _collect(recorded, model=MINI, request_id="s1")
    completion = chunks[-1].completion
    assert completion is not None
    (record,) = recorder.records
    assert record.request_id == "s1"
    assert record.attempt == 0
    assert record.streamed
    assert record.outcome == "ok"
    assert record.usage == completion.usage
    assert record.cost_usd == pytest.approx(completion.cost_usd)
    assert record.ttft_s is not None
    assert 0 <= record.ttft_s <= record.latency_s


async def test_streamed_tool_calls_assemble(muxer: Muxer) -> None:
    kwargs: dict[str, Any] = {"model": FOUR_O, "tools": [make_tool()], "tool_choice": "required"}
    prompt = "What is the weather in Paris today?"
    chunks = await _collect(muxer, prompt, **kwargs)
    completion = chunks[-1].completion
    assert completion is not None
    whole = await muxer.acomplete(prompt, **kwargs)
    assert whole.tool_calls, "the offline model should call the tool"
    assert completion.tool_calls == whole.tool_calls
    assert completion.finish_reason == "tool_calls"
    pieces = [d for c in chunks[:-1] for d in c.tool_calls]
    assert len(pieces) >= 2  # the name, then the arguments in pieces
    assert "".join(d.arguments for d in pieces) == whole.tool_calls[0].function.arguments


async def test_early_stop_records_a_cancelled_call(recorded: Muxer, recorder: Recorder) -> None:
    full = (await recorded.acomplete(PROMPT, model=FOUR_O)).usage
    recorder.records.clear()
    stream = recorded.astream(PROMPT, model=FOUR_O)
    async for chunk in stream:
        assert chunk.text
        break
    await stream.aclose()  # type: ignore[attr-defined]
    (record,) = recorder.records
    assert record.outcome == "cancelled"
    assert record.streamed
    assert record.error is not None
    assert record.usage.prompt_tokens == full.prompt_tokens
    assert 0 < record.usage.completion_tokens < full.completion_tokens
    card = recorded.catalog.get(FOUR_O)
    assert record.cost_usd == pytest.approx(
        card.cost_usd(record.usage.prompt_tokens, record.usage.completion_tokens)
    )
    completion, error = recorder.ended[-1]
    assert completion is None
    assert error is not None


def test_sync_stream_and_its_early_stop(recorded: Muxer, recorder: Recorder) -> None:
    chunks = list(recorded.stream(PROMPT, model=MINI))
    completion = chunks[-1].completion
    assert completion is not None
    assert "".join(c.text for c in chunks[:-1]) == completion.text
    assert [r.outcome for r in recorder.records] == ["ok"]

    stream = recorded.stream(PROMPT, model=MINI)
    first = next(stream)
    assert first.text
    stream.close()  # type: ignore[attr-defined]
    assert [r.outcome for r in recorder.records] == ["ok", "cancelled"]


async def test_failure_mid_stream(recorded: Muxer, recorder: Recorder) -> None:
    received: list[StreamChunk] = []

    async def consume() -> None:
        stream = recorded.astream(
            PROMPT, model=MINI, metadata={"offline": {"fail_after_chunks": 2}}
        )
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(ProviderError, match="simulated server error"):
        await consume()
    assert len(received) == 2
    (record,) = recorder.records
    assert record.outcome == "error"
    assert record.usage.completion_tokens > 0  # the part that was streamed
    assert isinstance(recorder.ended[-1][1], ProviderError)


async def test_failure_before_the_first_chunk(recorded: Muxer, recorder: Recorder) -> None:
    with pytest.raises(ProviderError) as info:
        await _collect(recorded, model=MINI, metadata={"offline": {"fail": "rate_limit"}})
    assert info.value.status_code == 429
    assert [r.outcome for r in recorder.records] == ["error"]


async def test_stream_timeout(recorded: Muxer, recorder: Recorder) -> None:
    with pytest.raises(ProviderTimeout) as info:
        await _collect(
            recorded, model=MINI, timeout_s=0.05, metadata={"offline": {"latency_s": 1.0}}
        )
    assert info.value.timeout_s == 0.05
    assert info.value.model == MINI
    assert [r.outcome for r in recorder.records] == ["error"]


def _card(model_id: str, price: float, quality: float, **offline: Any) -> ModelCard:
    card = make_card(
        model_id, input_price_per_mtok=price, output_price_per_mtok=price * 4, quality=quality
    )
    return card.model_copy(update={"deployment": Deployment(extra={"offline": offline})})


async def test_a_streamed_cascade_streams_only_the_last_model(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    cheap = _card("offline/test/cheap", 0.1, 0.6, refuse=True)
    strong = _card("offline/test/strong", 10.0, 0.95)
    muxer = make_muxer([cheap, strong], plugins=[recorder], strategy="cascade")
    chunks = await _collect(muxer)
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.model == "offline/test/strong"
    assert "".join(c.text for c in chunks[:-1]) == completion.text
    assert all(c.model == "offline/test/strong" for c in chunks)
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        ("offline/test/cheap", "escalated"),
        ("offline/test/strong", "accepted"),
    ]
    assert completion.attempts[0].judge_score is not None
    assert completion.attempts[0].judge_score < 0.5
    assert completion.cost_usd == pytest.approx(sum(a.cost_usd for a in completion.attempts))
    assert [(r.attempt, r.outcome, r.streamed) for r in recorder.records] == [
        (0, "escalated", False),
        (1, "ok", True),
    ]


async def test_a_streamed_cascade_accepting_the_first_answer(make_muxer: MakeMuxer) -> None:
    cheap = _card("offline/test/cheap", 0.1, 0.6)
    strong = _card("offline/test/strong", 10.0, 0.95)
    muxer = make_muxer([cheap, strong], strategy="cascade")
    chunks = await _collect(muxer)
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.model == "offline/test/cheap"
    assert "".join(c.text for c in chunks[:-1]) == completion.text
    assert [a.outcome for a in completion.attempts] == ["accepted"]
    whole = await muxer.acomplete(PROMPT)
    assert whole.text == completion.text
    assert whole.cost_usd == pytest.approx(completion.cost_usd)


async def test_a_streamed_cascade_skips_a_failing_model(make_muxer: MakeMuxer) -> None:
    cheap = _card("offline/test/cheap", 0.1, 0.6, fail="server_error")
    strong = _card("offline/test/strong", 10.0, 0.95)
    muxer = make_muxer([cheap, strong], strategy="cascade")
    chunks = await _collect(muxer)
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.model == "offline/test/strong"
    assert [a.outcome for a in completion.attempts] == ["failed", "accepted"]
