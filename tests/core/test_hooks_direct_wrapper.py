"""``modelmuxer.plugins.direct_wrapper``: the pipeline calls the attempt-span wrapper's
``wrap_call`` itself when it is the only wrapper around the built-in model call, and goes
through pluggy whenever that could differ (another implementation or wrapper, an old-style
hookwrapper, a wrapper without ``wrap_call``, call monitoring). That both paths make the same
spans is checked by test_telemetry_tracing.py, which runs every traced test on each."""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import Any

import pluggy
import pytest
from _support import OFFLINE_MODELS, MakeMuxer, PassThrough
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelmuxer import Muxer, hookimpl
from modelmuxer.backends import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.plugins import direct_wrapper

PROMPT = "Explain how photosynthesis turns light into sugar."


class PassThroughWithWrapCall(PassThrough):
    """Offers ``wrap_call`` but is a second wrapper besides the attempt spans."""

    def wrap_call(self, ctx: Any, call: Any, inner: Any) -> Any:
        return inner


class OldStyle:
    @hookimpl(hookwrapper=True)
    def modelmuxer_call_model(self, ctx: RequestContext, call: ModelCall) -> Generator[None]:
        yield


class OwnCall:
    """Answers model calls itself (in place of the built-in implementation)."""

    @hookimpl
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Awaitable[ModelResponse]:
        return call.backend.complete(call)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(make_muxer: MakeMuxer, exporter: InMemorySpanExporter) -> Muxer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    muxer = make_muxer(OFFLINE_MODELS)
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    return muxer


def _found(muxer: Muxer) -> object:
    hook = muxer.plugins.hook.modelmuxer_call_model
    return direct_wrapper(hook, hook.get_hookimpls())


def _attempts(muxer: Muxer) -> Any:
    tracing = muxer.telemetry.tracing
    assert tracing is not None
    return tracing._attempts


def _count_generator_calls(muxer: Muxer) -> list[int]:
    """Counts how often pluggy runs the attempt-span wrapper's generator."""
    calls = [0]
    (impl,) = [
        i
        for i in muxer.plugins.hook.modelmuxer_call_model.get_hookimpls()
        if i.plugin is _attempts(muxer)
    ]
    inner = impl.function

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return inner(*args)

    impl.function = counted
    return calls


def test_the_attempt_spans_alone_are_called_directly(traced: Muxer) -> None:
    assert _found(traced) == _attempts(traced).wrap_call


@pytest.mark.parametrize("plugin", [PassThrough, PassThroughWithWrapCall, OldStyle, OwnCall])
def test_any_other_implementation_goes_through_pluggy(traced: Muxer, plugin: type) -> None:
    traced.plugins.register(plugin())
    assert _found(traced) is None


def test_a_lone_wrapper_without_wrap_call_goes_through_pluggy(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(OFFLINE_MODELS)
    muxer.plugins.register(PassThrough())
    assert _found(muxer) is None


def test_an_implementation_in_place_of_the_built_in_goes_through_pluggy(traced: Muxer) -> None:
    builtin = traced.plugins.get_plugin("modelmuxer.pipeline.defaults")
    traced.plugins.unregister(builtin)
    traced.plugins.register(OwnCall())
    assert _found(traced) is None


async def test_a_request_skips_pluggy_and_still_makes_its_spans(
    traced: Muxer, exporter: InMemorySpanExporter
) -> None:
    calls = _count_generator_calls(traced)
    await traced.acomplete(traced.request(PROMPT))
    assert calls == [0]
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names[0].startswith("chat ")
    assert names[1] == "modelmuxer.request"
    traced.plugins.register(PassThrough())  # now two wrappers: pluggy calls them
    await traced.acomplete(traced.request(PROMPT))
    assert calls == [1]
    assert len(exporter.get_finished_spans()) == 4


async def test_monitored_calls_go_through_pluggy(traced: Muxer) -> None:
    seen: list[str] = []

    def before(name: str, impls: list[pluggy.HookImpl], kwargs: dict[str, Any]) -> None:
        seen.append(name)

    undo = traced.plugins.add_hookcall_monitoring(before, lambda *a: None)
    try:
        assert _found(traced) is None
        await traced.acomplete(traced.request(PROMPT))
    finally:
        undo()
    assert "modelmuxer_call_model" in seen
    assert _found(traced) == _attempts(traced).wrap_call
