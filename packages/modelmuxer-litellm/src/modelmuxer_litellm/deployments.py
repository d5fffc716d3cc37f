"""Where the deployments come from: the virtual group's copies, and the proxy's router."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelmuxer.errors import ConfigError
from modelmuxer_litellm import _compat
from modelmuxer_litellm.cards import ORIGIN_KEY, generates_text, origin_id, original_deployments

__all__ = ["add_virtual_group", "proxy_router", "virtual_copy"]


def virtual_copy(deployment: Mapping[str, Any], group: str) -> dict[str, Any]:
    """A copy of ``deployment`` in ``group``, with id ``<id>@<group>``, marked with the id of the
    deployment it copies (its prices, limits and records are that deployment's)."""
    ident = origin_id(deployment)
    info = {**dict(deployment.get("model_info") or {}), "id": f"{ident}@{group}", ORIGIN_KEY: ident}
    return {
        "model_name": group,
        "litellm_params": dict(deployment.get("litellm_params") or {}),
        "model_info": info,
    }


def add_virtual_group(router: Any, group: str, deployments: Sequence[Mapping[str, Any]]) -> None:
    """Make ``group`` hold a copy of every deployment of ``router`` (listed in ``deployments``)
    that answers chat requests, so ModelMuxer can choose across all groups (an embedding or
    image model is no answer to a chat request): adds the copies missing, removes those of
    deployments gone or changed since (a changed one is copied again). Idempotent."""
    wanted = {
        copy["model_info"]["id"]: copy
        for deployment in original_deployments(deployments)
        if deployment.get("model_name") != group and generates_text(deployment)
        for copy in (virtual_copy(deployment, group),)
    }
    present: set[str] = set()
    for deployment in deployments:
        ident = str(_section(deployment, "model_info").get("id"))
        if deployment.get("model_name") != group or ident in present:
            continue
        copy = wanted.get(ident)
        if copy is not None and _same_call(copy, deployment):
            present.add(ident)
        elif _section(deployment, "model_info").get(ORIGIN_KEY):  # a copy: not the user's
            _compat.delete_deployment(router, ident)
    for ident, copy in wanted.items():
        if ident not in present:
            _compat.add_deployment(router, copy)


def _section(deployment: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = deployment.get(key)
    return value if isinstance(value, Mapping) else {}


def _same_call(copy: Mapping[str, Any], listed: Mapping[str, Any]) -> bool:
    """Whether the listed copy calls what ``copy`` (a fresh copy of its deployment) calls."""
    return dict(_section(copy, "litellm_params")) == dict(_section(listed, "litellm_params"))


def proxy_router() -> Any:
    """The LiteLLM proxy's router (``litellm.proxy.proxy_server.llm_router``)."""
    try:
        from litellm.proxy import proxy_server
    except ImportError as exc:
        raise ConfigError(
            "ModelMuxerCallback has no router: pass one to register(), or run it inside the "
            f"LiteLLM proxy (litellm[proxy]); importing the proxy failed: {exc}"
        ) from exc
    router = getattr(proxy_server, "llm_router", None)
    if router is None:
        raise ConfigError("the LiteLLM proxy has no router yet (no model_list in its config?)")
    return router
