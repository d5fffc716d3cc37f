"""Plugin management: one pluggy manager per Muxer, built-in plugins, entry points, registries."""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import pluggy

from modelmuxer import hookspecs
from modelmuxer.backends.base import Backend
from modelmuxer.errors import ConfigError, PluginError, UnknownStrategy
from modelmuxer.strategies.base import Strategy
from modelmuxer.types import ModelCard

if TYPE_CHECKING:
    from modelmuxer.backends.base import ModelCall, ModelResponse
    from modelmuxer.context import RequestContext

__all__ = [
    "DEFAULT_PLUGINS",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "BackendRegistry",
    "CallWrapper",
    "StrategyRegistry",
    "direct_wrapper",
    "make_plugin_manager",
    "notify",
]

ENTRY_POINT_GROUP = "modelmuxer"
#: Set to a non-empty value to skip entry-point plugins (tests do), like pytest's own switch.
DISABLE_AUTOLOAD_ENV = "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "modelmuxer.pipeline.defaults",
    "modelmuxer.judging.structural",
    "modelmuxer.backends.litellm_backend",
    "modelmuxer.backends.offline",
    "modelmuxer.strategies.cost_optimized",
    "modelmuxer.strategies.quality_first",
    "modelmuxer.strategies.cascade",
    "modelmuxer.strategies.hybrid",
    "modelmuxer.cache.embedders",
)


def make_plugin_manager(
    plugins: Iterable[object] = (), *, load_entrypoints: bool = True
) -> pluggy.PluginManager:
    """A new plugin manager with the hookspecs, the built-ins, entry points and ``plugins``.

    Entry points of the ``modelmuxer`` group load unless ``load_entrypoints`` is false or the
    ``MODELMUXER_DISABLE_PLUGIN_AUTOLOAD`` environment variable is set.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entrypoints and not os.environ.get(DISABLE_AUTOLOAD_ENV):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(
                f"loading a '{ENTRY_POINT_GROUP}' entry-point plugin failed: {exc}"
            ) from exc
    for plugin in plugins:
        try:
            pm.register(plugin)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register plugin {plugin!r}: {exc}") from exc
    try:
        # A misspelt hook would otherwise be ignored silently (a policy that never runs).
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc}; hooks are named in modelmuxer.hookspecs") from exc
    return pm


def _pluggy_multicall() -> Callable[..., object] | None:
    try:  # pluggy's own executor, to tell whether a manager's calls are monitored
        from pluggy._callers import _multicall
    except ImportError:  # a pluggy laid out otherwise: every call goes through pluggy
        return None
    return _multicall


_MULTICALL = _pluggy_multicall()


def _unmonitored(hook: pluggy.HookCaller) -> bool:
    """Whether ``hook`` runs on pluggy's own executor, without call monitoring
    (``add_hookcall_monitoring``, ``enable_tracing``): then calling its implementations as
    pluggy would is the same call."""
    manager = getattr(getattr(hook, "_hookexec", None), "__self__", None)
    return _MULTICALL is not None and getattr(manager, "_inner_hookexec", None) is _MULTICALL


def notify(hook: pluggy.HookCaller, **kwargs: object) -> None:
    """Call a notification hook (one whose results nobody reads: ``modelmuxer_record``,
    ``modelmuxer_request_end``) with ``kwargs``.

    Exactly what ``hook(**kwargs)`` does when its implementations are plain functions: each is
    called in pluggy's order (last registered first, ``tryfirst`` / ``trylast`` honoured) with
    the arguments it names, on a copy of the list (a plugin may register another meanwhile), and
    the first exception stops the call and propagates. Without pluggy's per-call machinery
    around them, which costs a few microseconds per request on these hooks. ``hook(**kwargs)``
    is called instead whenever the two could differ: a wrapper among the implementations, one
    with arguments that have defaults (pluggy passes those by keyword), call monitoring on the
    manager (``add_hookcall_monitoring``, ``enable_tracing``), or a pluggy whose internals are
    not the ones this was written against.
    """
    impls = getattr(hook, "_hookimpls", None)
    if type(impls) is not list or not _unmonitored(hook):
        hook(**kwargs)
        return
    for impl in impls:
        if impl.hookwrapper or getattr(impl, "wrapper", True) or getattr(impl, "kwargnames", ()):
            hook(**kwargs)
            return
    for impl in reversed(impls.copy()):
        impl.function(*[kwargs[name] for name in impl.argnames])


class CallWrapper(Protocol):
    """What a plugin's ``wrap_call`` does (see :func:`direct_wrapper`)."""

    def __call__(
        self, ctx: RequestContext, call: ModelCall, inner: Awaitable[ModelResponse]
    ) -> Awaitable[ModelResponse]: ...


#: the plugin whose ``modelmuxer_call_model`` calls the backend (the pipeline's default)
_BUILTIN_CALL = "modelmuxer.pipeline.defaults"


def direct_wrapper(hook: pluggy.HookCaller, impls: Sequence[pluggy.HookImpl]) -> CallWrapper | None:
    """The ``wrap_call`` of the one wrapper around the built-in model call, to call directly.

    ``hook``: ``modelmuxer_call_model``; ``impls``: its implementations. A plugin whose
    ``modelmuxer_call_model`` wrapper does nothing before its ``yield`` and returns
    ``self.wrap_call(ctx, call, inner)`` after it may say so by having that method (ModelMuxer's
    attempt spans do): when it is the only implementation besides the built-in one, the
    pipeline calls ``wrap_call(ctx, call, backend_awaitable)`` itself, the same thing without
    pluggy's per-call machinery and the wrapper's generator (a few microseconds per model call).
    ``None`` whenever pluggy's own call could differ: other implementations or wrappers, an
    old-style hookwrapper, call monitoring on the manager (see :func:`notify`).
    """
    if len(impls) != 2:
        return None
    first, second = impls
    wrapper, inner = (second, first) if second.wrapper else (first, second)
    if (
        not wrapper.wrapper
        or wrapper.hookwrapper
        or inner.wrapper
        or inner.hookwrapper
        or inner.plugin_name != _BUILTIN_CALL
        or not _unmonitored(hook)
    ):
        return None
    wrap = getattr(wrapper.plugin, "wrap_call", None)
    return wrap if callable(wrap) else None


class StrategyRegistry:
    """The strategies registered on one muxer, by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._by_name: dict[str, Strategy] = {}
        pm.hook.modelmuxer_register_strategies(register=self._register)

    def _register(self, strategy: Strategy) -> None:
        if not isinstance(strategy, Strategy):
            raise PluginError(
                f"{strategy!r} is not a strategy: it needs name, description and select(task)"
            )
        if strategy.name in self._by_name:
            raise PluginError(f"two plugins register a strategy named {strategy.name!r}")
        self._by_name[strategy.name] = strategy

    def get(self, name: str) -> Strategy:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownStrategy(name, list(self._by_name)) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


class BackendRegistry:
    """The backends registered on one muxer."""

    FALLBACK = "litellm"

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._backends: list[Backend] = []
        pm.hook.modelmuxer_register_backends(register=self._register)

    def _register(self, backend: Backend) -> None:
        if not isinstance(backend, Backend):
            raise PluginError(
                f"{backend!r} is not a backend: "
                "it needs name, claims, price_alias, complete, stream"
            )
        if any(b.name == backend.name for b in self._backends):
            raise PluginError(f"two plugins register a backend named {backend.name!r}")
        self._backends.append(backend)

    def get(self, name: str) -> Backend:
        for backend in self._backends:
            if backend.name == name:
                return backend
        known = ", ".join(sorted(b.name for b in self._backends))
        raise ConfigError(f"no backend named {name!r}; registered backends: {known}")

    def for_model(self, model_id: str, backend: str | None = None) -> Backend:
        """The backend that serves ``model_id``: the named one, a claiming one, else litellm."""
        if backend is not None:
            return self.get(backend)
        for candidate in self._backends:
            if candidate.name != self.FALLBACK and candidate.claims(model_id):
                return candidate
        return self.get(self.FALLBACK)

    def for_card(self, card: ModelCard) -> Backend:
        return self.for_model(card.id, card.backend)

    def names(self) -> list[str]:
        return sorted(b.name for b in self._backends)
