"""``modelmuxer.plugins.notify``: a notification hook's implementations called directly, exactly
as pluggy calls them (order, arguments, exceptions), and through pluggy whenever that could
differ (wrappers, keyword-only arguments, call monitoring)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pluggy
import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import hookimpl
from modelmuxer.context import RequestContext
from modelmuxer.plugins import make_plugin_manager, notify
from modelmuxer.types import Completion


class Listener:
    """Appends ``(its name, what it was given)`` to a shared log."""

    def __init__(self, name: str, log: list[tuple[str, Any]]) -> None:
        self.name = name
        self.log = log

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        self.log.append((self.name, (ctx, completion, error)))


class First(Listener):
    @hookimpl(tryfirst=True)
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        self.log.append((self.name, (ctx, completion, error)))


class Last(Listener):
    @hookimpl(trylast=True)
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        self.log.append((self.name, (ctx, completion, error)))


class ErrorOnly(Listener):
    """Names only one of the hook's arguments (pluggy passes only what an implementation names)."""

    @hookimpl
    def modelmuxer_request_end(self, error: BaseException | None) -> None:
        self.log.append((self.name, error))


class Raising(Listener):
    @hookimpl
    def modelmuxer_request_end(self, ctx: RequestContext) -> None:
        self.log.append((self.name, "raised"))
        raise RuntimeError(f"{self.name} failed")


def _manager(*plugins: object) -> pluggy.PluginManager:
    return make_plugin_manager(plugins, load_entrypoints=False)


def _both(make: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], Any, Any]:
    """The log of pluggy's own call and of ``notify``'s, over equal plugin managers, and what
    each raised (``None`` when nothing)."""
    logs: list[list[tuple[str, Any]]] = [[], []]
    raised: list[Any] = [None, None]
    for i, call in enumerate((lambda hook, **kw: hook(**kw), notify)):
        pm = _manager(*make(logs[i]))
        try:
            call(pm.hook.modelmuxer_request_end, ctx="ctx", completion="done", error=None)
        except RuntimeError as exc:
            raised[i] = str(exc)
    return logs[0], logs[1], raised[0], raised[1]


def test_the_same_calls_in_pluggys_order_with_the_arguments_each_names() -> None:
    def make(log: list[tuple[str, Any]]) -> list[object]:
        return [
            Last("last", log),
            Listener("a", log),
            First("first", log),
            ErrorOnly("b", log),
            Listener("c", log),
        ]

    theirs, ours, _, _ = _both(make)
    assert ours == theirs
    assert [name for name, _ in ours] == ["first", "c", "b", "a", "last"]
    assert ("b", None) in ours  # only the argument it names


def test_the_first_exception_stops_the_call_and_propagates() -> None:
    def make(log: list[tuple[str, Any]]) -> list[object]:
        return [Listener("after", log), Raising("boom", log), Listener("before", log)]

    theirs, ours, their_error, our_error = _both(make)
    assert ours == theirs == [("before", ("ctx", "done", None)), ("boom", "raised")]
    assert our_error == their_error == "boom failed"


class Wrapping:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> Generator[None, None, None]:
        self.log.append("before")
        yield
        self.log.append("after")


def test_a_wrapper_gets_pluggys_own_call() -> None:
    seen: list[Any] = []
    log: list[str] = []
    pm = _manager(Wrapping(log), ErrorOnly("plain", seen))
    notify(pm.hook.modelmuxer_request_end, ctx="ctx", completion=None, error=None)
    assert log == ["before", "after"]
    assert seen == [("plain", None)]


def test_monitored_calls_go_through_pluggy() -> None:
    """``add_hookcall_monitoring`` (and ``enable_tracing``) see every call."""
    seen: list[Any] = []
    monitored: list[str] = []
    pm = _manager(Listener("plain", seen))
    undo = pm.add_hookcall_monitoring(
        before=lambda name, impls, kwargs: monitored.append(name),
        after=lambda outcome, name, impls, kwargs: None,
    )
    notify(pm.hook.modelmuxer_request_end, ctx="ctx", completion=None, error=None)
    assert monitored == ["modelmuxer_request_end"]
    undo()
    notify(pm.hook.modelmuxer_request_end, ctx="ctx", completion=None, error=None)
    assert monitored == ["modelmuxer_request_end"]  # no longer monitored: called directly
    assert len(seen) == 2


@pytest.mark.parametrize("knows_pluggy", [True, False])
def test_without_pluggys_executor_every_call_goes_through_pluggy(
    monkeypatch: pytest.MonkeyPatch, knows_pluggy: bool
) -> None:
    from modelmuxer import plugins

    seen: list[Any] = []
    through_pluggy: list[str] = []
    call = pluggy.HookCaller.__call__

    def counted(self: pluggy.HookCaller, **kwargs: object) -> Any:
        through_pluggy.append(self.name)
        return call(self, **kwargs)

    monkeypatch.setattr(pluggy.HookCaller, "__call__", counted)
    if not knows_pluggy:
        monkeypatch.setattr(plugins, "_MULTICALL", None)
    pm = _manager(Listener("plain", seen))
    notify(pm.hook.modelmuxer_request_end, ctx="ctx", completion=None, error=None)
    assert len(seen) == 1
    assert through_pluggy == ([] if knows_pluggy else ["modelmuxer_request_end"])


async def test_the_pipeline_notifies_record_and_request_end_listeners(
    make_muxer: MakeMuxer,
) -> None:
    listener = Recorder()
    muxer = make_muxer(OFFLINE_MODELS, plugins=[listener])
    completion = await muxer.acomplete("What is the capital of France?")
    assert [r.request_id for r in listener.records] == [completion.request_id]
    assert listener.ended == [(completion, None)]


class Defaults(Listener):
    """Arguments with defaults (pluggy passes those by keyword when the caller gives them)."""

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None = None, error: Any = "unset"
    ) -> None:
        self.log.append((self.name, (ctx, completion, error)))


def test_implementations_with_defaults_get_what_pluggy_gives_them() -> None:
    def make(log: list[tuple[str, Any]]) -> list[object]:
        return [Defaults("defaults", log), Listener("plain", log)]

    theirs, ours, _, _ = _both(make)
    assert ours == theirs
    assert ours[-1] == ("defaults", theirs[-1][1])
