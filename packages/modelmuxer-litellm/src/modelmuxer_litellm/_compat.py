"""The few Router members the adapter reads, across litellm 1.108 (Python router) and 1.110+
(Rust core, where the old members still work but warn)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["active_cooldowns", "add_deployment", "delete_deployment", "router_deployments"]


def router_deployments(router: Any) -> list[Mapping[str, Any]]:
    """Every deployment of ``router``, as deployment dicts (``model_name``, ``litellm_params``,
    ``model_info``)."""
    registry = getattr(router, "registry", None)
    if callable(registry):  # 1.110+: Router.registry().all()
        return [entry for entry in registry().all() if isinstance(entry, Mapping)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        listed = router.get_model_list() or []
    return [entry for entry in listed if isinstance(entry, Mapping)]


async def active_cooldowns(router: Any, model_ids: Sequence[str]) -> set[str]:
    """The ids among ``model_ids`` that ``router`` is cooling down."""
    if not model_ids:
        return set()
    health = getattr(router, "health", None)  # 1.110+: Router.health().cooldowns
    cooldowns = health().cooldowns if callable(health) else router.cooldown_cache
    active = await cooldowns.async_get_active_cooldowns(
        model_ids=list(model_ids), parent_otel_span=None
    )
    return {str(model_id) for model_id, _ in active}


def add_deployment(router: Any, deployment: Mapping[str, Any]) -> None:
    """Add ``deployment`` (a deployment dict) to ``router``."""
    from litellm.types.router import Deployment

    router.add_deployment(Deployment(**dict(deployment)))


def delete_deployment(router: Any, deployment_id: str) -> None:
    """Remove the deployment with id ``deployment_id`` from ``router``."""
    with warnings.catch_warnings():  # 1.110: apply(ChangeSet(delete=[...])) is the new way
        warnings.simplefilter("ignore", DeprecationWarning)
        router.delete_deployment(id=deployment_id)
