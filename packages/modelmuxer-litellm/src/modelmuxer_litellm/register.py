"""The one call that puts ModelMuxer on a ``litellm.Router``: :func:`register`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from modelmuxer import Muxer
from modelmuxer.errors import ConfigError
from modelmuxer.pipeline import SyncBridge
from modelmuxer_litellm import _compat
from modelmuxer_litellm.callback import AUTO_GROUP, ModelMuxerCallback
from modelmuxer_litellm.cards import (
    DeploymentOverrides,
    origin_id,
    original_deployments,
    routed_cards,
)
from modelmuxer_litellm.lifecycle import close_slot, open_slot
from modelmuxer_litellm.streams import relay

__all__ = ["register", "unregister"]

#: Router attribute holding the callback ``register`` installed (read by ``unregister``).
_INSTALLED = "_modelmuxer_callback"
#: Router attribute holding the methods ``register`` replaced on it, by name (their wrappers).
_WRAPPED = "_modelmuxer_wrapped"
#: litellm's process-wide lists a callback in ``litellm.callbacks`` is copied into on first use.
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "_async_input_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "service_callback",
)


def register(
    router: Any,
    *,
    strategy: str | None = None,
    overrides: DeploymentOverrides | None = None,
    auto_group: str | None = AUTO_GROUP,
    plugins: Iterable[object] = (),
    muxer: Muxer | None = None,
    load_entrypoints: bool | None = None,
    route_sync_calls: bool = True,
    response_headers: bool = False,
) -> ModelMuxerCallback:
    """Route ``router``'s requests with ModelMuxer; returns the installed callback.

    Each request to a model group goes to the deployment of that group ModelMuxer's strategy
    picks among the healthy ones; LiteLLM's retries, cooldowns and fallbacks keep working. A
    request to ``auto_group`` (``"modelmuxer/auto"``; ``None`` for none) lets the strategy choose
    among every deployment of the router.

    :param router: a ``litellm.Router``.
    :param strategy: the default strategy (a request may name another in
        ``metadata["modelmuxer_strategy"]``); the muxer's settings otherwise.
    :param overrides: :class:`~modelmuxer.catalog.ModelSpec` fields per deployment id or model
        group (``{"cheap": {"quality": 0.7}}``), over what the deployments say.
    :param plugins: ModelMuxer plugins (policies, record sinks, a ledger) for the muxer built here.
    :param muxer: a ready muxer to take strategies, plugins and settings from instead.
    :param route_sync_calls: LiteLLM filters deployments on async calls only, so
        ``router.completion`` is made to run ``router.acompletion`` on a background loop (a
        streamed call returns an iterator of chunks). ``False`` leaves sync calls to LiteLLM's
        own routing (they are still recorded).
    :param response_headers: also put the choice in ``x-modelmuxer-deployment``,
        ``x-modelmuxer-strategy`` and ``x-modelmuxer-request-id`` headers of each answer
        (``_hidden_params["additional_headers"]``), for a server that passes them on; the
        choice is always in ``_hidden_params["modelmuxer"]``.
    :raises ~modelmuxer.errors.ConfigError: a deployment that answers chat requests has no known
        price or context window (others, embeddings, images, audio, are left to LiteLLM when
        they have no per-token price); or another router with ModelMuxer registered has
        deployments of the same ids.
    """
    _check_ids_apart(router)
    overrides = dict(overrides or {})

    def factory(deployments: Sequence[Mapping[str, Any]]) -> Muxer:
        if muxer is not None:
            return muxer
        cards = routed_cards(deployments, overrides)
        return Muxer(cards, strategy, plugins=plugins, load_entrypoints=load_entrypoints)

    unregister(router)
    callback = ModelMuxerCallback(
        factory,
        router=router,
        overrides=overrides,
        auto_group=auto_group,
        response_headers=response_headers,
    )
    callback.selector  # noqa: B018  # price every deployment now: a bad one fails here, not later
    callback.install_auto_group()
    _add_callback(callback)
    setattr(router, _INSTALLED, callback)
    wrapped = {"acompletion": _end_failed_requests(router, callback)}
    if route_sync_calls:
        wrapped["completion"] = _route_sync_calls(router, callback)
    setattr(router, _WRAPPED, wrapped)
    return callback


def unregister(router: Any) -> None:
    """Undo :func:`register` on ``router`` (the virtual group's deployments stay)."""
    callback = getattr(router, _INSTALLED, None)
    if not isinstance(callback, ModelMuxerCallback):
        return
    import litellm

    for name in _CALLBACK_LISTS:
        listed = getattr(litellm, name, None)
        if isinstance(listed, list):
            listed[:] = [cb for cb in listed if cb is not callback]
    wrapped = getattr(router, _WRAPPED, None) or {}
    for name, wrapper in wrapped.items():
        # removes the instance attribute (on litellm 1.110, from the router's core too, where
        # the router's facade mirrors it)
        if getattr(router, name, None) is wrapper:
            delattr(router, name)
    if callback.sync_bridge is not None:
        callback.sync_bridge.close()
        callback.sync_bridge = None
    delattr(router, _INSTALLED)
    if wrapped:
        delattr(router, _WRAPPED)


def registered_routers() -> list[Any]:
    """The routers ModelMuxer is registered on in this process (``register`` was called and
    ``unregister`` not yet), oldest first: LiteLLM's callback list is process-wide, so a
    router registered earlier keeps its callback after the code holding it let it go (a
    re-run notebook cell). ``for r in registered_routers(): unregister(r)`` clears them."""
    import litellm

    return [
        callback.router
        for callback in litellm.callbacks
        if isinstance(callback, ModelMuxerCallback)
        and callback.router is not None
        and getattr(callback.router, _INSTALLED, None) is callback
    ]


def _check_ids_apart(router: Any) -> None:
    """Refuse ``router`` when another router with ModelMuxer registered has deployments of the
    same ids: LiteLLM hands every router's calls to every callback and tells them apart by
    deployment id only, so both would route and record each other's calls.

    :raises ~modelmuxer.errors.ConfigError: naming the ids.
    """
    import litellm

    ids = {origin_id(d) for d in original_deployments(_compat.router_deployments(router))}
    for other in litellm.callbacks:
        if not isinstance(other, ModelMuxerCallback) or other.router is None:
            continue
        if other.router is router:
            continue
        shared = ids & {origin_id(d) for d in original_deployments(other.deployments())}
        if shared:
            raise ConfigError(
                f"another router with ModelMuxer registered has deployments with the ids "
                f"{sorted(shared)[:5]!r}: LiteLLM reports every router's calls to every "
                "callback and names deployments by id only, so the two would route and record "
                "each other's calls. unregister() the other router first (registered_routers() "
                "lists them, for one no longer held), or give each "
                "router's deployments their own model_info.id (LiteLLM derives missing ids from "
                "the deployment's parameters: the same model_list gives the same ids)."
            )


def _add_callback(callback: ModelMuxerCallback) -> None:
    import litellm

    manager = getattr(litellm, "logging_callback_manager", None)
    if manager is not None and hasattr(manager, "add_litellm_callback"):
        manager.add_litellm_callback(callback)
    if callback not in litellm.callbacks:
        litellm.callbacks.append(callback)


def _end_failed_requests(router: Any, callback: ModelMuxerCallback) -> Any:
    """``router.acompletion``, telling ``callback`` when it raises: the requests ModelMuxer
    routed inside the call then end with the error (LiteLLM gave up on them). A stream it
    returns is watched for the ends only its reader sees (an error, an early stop)."""
    acompletion = router.acompletion

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        slot, token = open_slot()
        try:
            result = await acompletion(*args, **kwargs)
        except BaseException as exc:
            if slot is not None and slot.request_ids:
                callback.request_failed(exc)
                await callback.release_held(slot.request_ids)
            raise
        finally:
            close_slot(token)
        if slot is not None and kwargs.get("stream"):
            callback.stream_returned(result, slot.request_ids)
        return result

    wrapper.__doc__ = acompletion.__doc__
    wrapper.__wrapped__ = acompletion  # type: ignore[attr-defined]
    router.acompletion = wrapper
    return wrapper


def _route_sync_calls(router: Any, callback: ModelMuxerCallback) -> Any:
    """``router.completion`` through ``router.acompletion``, where the deployment filter runs."""
    bridge = SyncBridge(name="modelmuxer-litellm-sync")
    callback.sync_bridge = bridge
    acompletion = router.acompletion

    def completion(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            return bridge.iterate(_chunks(acompletion, args, kwargs))
        return bridge.run(acompletion(*args, **kwargs))

    completion.__doc__ = "Router.completion, routed by ModelMuxer (runs router.acompletion)."
    router.completion = completion
    return completion


async def _chunks(
    acompletion: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> AsyncIterator[Any]:
    async with aclosing(relay(await acompletion(*args, **kwargs))) as chunks:
        async for chunk in chunks:
            yield chunk
