"""A LiteLLM deployment as a ModelMuxer candidate: a :class:`~modelmuxer.types.ModelCard`.

Prices, limits and capabilities come, in this order of precedence, from the overrides given to
:func:`~modelmuxer_litellm.register` (by deployment id, then by model group), from
``model_info["modelmuxer"]`` on the deployment (handy in a proxy ``config.yaml``), from the
deployment's own ``litellm_params`` / ``model_info`` (``input_cost_per_token``,
``max_input_tokens``, ``supports_function_calling``...), and last from litellm's price map for
``base_model`` (``model_info``, else ``litellm_params``) or ``litellm_params["model"]``.

The card's id is the deployment id (``model_info["id"]``): give deployments readable ids, they
are the model names in ModelMuxer's decisions and records.

A Router also serves embeddings, images, audio...: a deployment whose ``mode`` (LiteLLM's
``model_info["mode"]``, else the price map's) is not a text mode never answers a chat request
(it stays out of the virtual group), and is carded only when it can be priced per token (an
embedding model); the others are left to LiteLLM's own routing (:func:`routed_cards`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError

from modelmuxer.catalog import ModelSpec, build_card, lookup_model
from modelmuxer.errors import ConfigError
from modelmuxer.types import ModelCard

__all__ = [
    "TEXT_MODES",
    "DeploymentOverrides",
    "deployment_card",
    "deployment_group",
    "deployment_id",
    "deployment_mode",
    "generates_text",
    "origin_id",
    "original_deployments",
    "routed_cards",
]

#: Per deployment id or model group: :class:`~modelmuxer.catalog.ModelSpec` fields to override.
DeploymentOverrides = Mapping[str, Mapping[str, Any]]

#: ``model_info`` key holding ModelSpec overrides written on the deployment itself.
INLINE_KEY: Final = "modelmuxer"
#: ``model_info`` key a virtual-group copy carries: the id of the deployment it copies.
ORIGIN_KEY: Final = "modelmuxer_origin"

#: The ``mode`` values (LiteLLM's) of deployments that answer chat and text completion requests.
TEXT_MODES: Final = frozenset({"chat", "completion", "responses"})

_CAPABILITY_KEYS: Final = {
    "supports_function_calling": "tools",
    "supports_vision": "vision",
    "supports_response_schema": "json_mode",
}


def _section(deployment: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = deployment.get(key)
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def deployment_id(deployment: Mapping[str, Any]) -> str:
    """The deployment's id (``model_info["id"]``, which litellm always sets)."""
    found = _section(deployment, "model_info").get("id")
    if not isinstance(found, str) or not found:
        raise ConfigError(f"deployment {deployment.get('model_name')!r} has no model_info.id")
    return found


def origin_id(deployment: Mapping[str, Any]) -> str:
    """The id of the deployment this one stands for: itself, or what a virtual copy copies."""
    info = deployment.get("model_info")
    if type(info) is dict:  # LiteLLM's own shape: read it without the general checks
        origin = info.get(ORIGIN_KEY) or info.get("id")
        if type(origin) is str and origin:
            return origin
    origin = _section(deployment, "model_info").get(ORIGIN_KEY)
    return origin if isinstance(origin, str) and origin else deployment_id(deployment)


def original_deployments(deployments: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The deployments that are not virtual-group copies."""
    return [d for d in deployments if not _section(d, "model_info").get(ORIGIN_KEY)]


def deployment_group(deployment: Mapping[str, Any]) -> str:
    """The model group (``model_name``) the deployment serves."""
    return str(deployment.get("model_name") or "")


def _first(key: str, *sources: Mapping[str, Any]) -> Any:
    for source in sources:
        value = source.get(key)
        if value is not None:
            return value
    return None


def _spec_fields(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """What the deployment itself says, as ModelSpec fields (without the id)."""
    params = _section(deployment, "litellm_params")
    info = _section(deployment, "model_info")
    fields: dict[str, Any] = {}
    for key in ("input_cost_per_token", "output_cost_per_token"):
        value = _first(key, params, info)
        if value is not None:
            fields[key] = float(value)
    cached = _first("cache_read_input_token_cost", params, info)
    if cached is not None:
        fields["cached_input_cost_per_token"] = float(cached)
    window = _first("max_input_tokens", info, params)
    if isinstance(window, int) and window > 0:
        fields["context_window"] = window
    max_output = _first("max_output_tokens", info, params)
    if isinstance(max_output, int) and max_output > 0:
        fields["max_output_tokens"] = max_output
    capabilities = {
        name: bool(info[key]) for key, name in _CAPABILITY_KEYS.items() if info.get(key) is not None
    }
    if capabilities:
        fields["capabilities"] = capabilities
    provider = params.get("custom_llm_provider")
    if isinstance(provider, str) and provider:
        fields["provider"] = provider
    return fields


def _price_alias(deployment: Mapping[str, Any]) -> str:
    """The price map key of the deployment's model, as LiteLLM reads it: ``base_model`` (in
    ``model_info``, else in ``litellm_params``; an Azure deployment's name says nothing of its
    model), else ``litellm_params["model"]``."""
    params = _section(deployment, "litellm_params")
    for base in (_section(deployment, "model_info").get("base_model"), params.get("base_model")):
        if isinstance(base, str) and base:
            return base
    return str(params.get("model") or "")


def deployment_mode(deployment: Mapping[str, Any]) -> str | None:
    """The kind of calls ``deployment`` serves, as LiteLLM names it (``chat``, ``embedding``,
    ``image_generation``, ``audio_transcription``...): its ``model_info["mode"]``, else the price
    map's for its model; ``None`` when neither says."""
    mode = _section(deployment, "model_info").get("mode")
    if isinstance(mode, str) and mode:
        return mode
    found = lookup_model(_price_alias(deployment))
    listed = found[1].get("mode") if found is not None else None
    return listed if isinstance(listed, str) and listed else None


def generates_text(deployment: Mapping[str, Any]) -> bool:
    """Whether ``deployment`` answers chat requests: its mode is one of :data:`TEXT_MODES`, or
    unknown (a model the price map does not list)."""
    mode = deployment_mode(deployment)
    return mode is None or mode in TEXT_MODES


def routed_cards(
    deployments: Sequence[Mapping[str, Any]], overrides: DeploymentOverrides | None = None
) -> list[ModelCard]:
    """The cards of the deployments ModelMuxer routes among (virtual copies left out): every
    deployment that answers chat requests, and every other one (an embedding model) that can be
    priced per token; the rest (image or audio models) are left to LiteLLM.

    :raises ~modelmuxer.errors.ConfigError: a chat deployment cannot be priced, or two
        deployments share an id.
    """
    originals = original_deployments(deployments)
    _check_unique_ids(originals)
    cards = []
    for deployment in originals:
        if generates_text(deployment):
            cards.append(deployment_card(deployment, overrides))
            continue
        try:
            cards.append(deployment_card(deployment, overrides))
        except ConfigError:
            continue  # not priced per token: LiteLLM routes it, records take its response_cost
    return cards


def _check_unique_ids(deployments: Sequence[Mapping[str, Any]]) -> None:
    """:raises ~modelmuxer.errors.ConfigError: two deployments share a ``model_info.id`` (the
    name of a deployment in decisions and records), naming it and their groups."""
    groups: dict[str, str] = {}
    for deployment in deployments:
        ident, group = origin_id(deployment), deployment_group(deployment)
        if ident in groups:
            raise ConfigError(
                f"deployments of groups {groups[ident]!r} and {group!r} share model_info.id "
                f"{ident!r}: ModelMuxer names deployments by id; give each its own"
            )
        groups[ident] = group


def deployment_card(
    deployment: Mapping[str, Any], overrides: DeploymentOverrides | None = None
) -> ModelCard:
    """The candidate card for ``deployment`` (a router's deployment dict).

    Raises :class:`~modelmuxer.errors.ConfigError` naming the deployment when its price or
    context window is unknown: set them on the deployment or in ``overrides``.
    """
    ident = origin_id(deployment)
    group = deployment_group(deployment)
    overrides = overrides or {}
    inline = _section(_section(deployment, "model_info"), INLINE_KEY)
    fields = {
        **_spec_fields(deployment),
        **inline,
        **overrides.get(group, {}),
        **overrides.get(ident, {}),
        "id": ident,
    }
    try:
        spec = ModelSpec.model_validate(fields)
        return build_card(spec, _price_alias(deployment))
    except ValidationError as exc:
        raise ConfigError(f"deployment {ident!r} (group {group!r}): {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(
            f"deployment {ident!r} (group {group!r}): {str(exc).rstrip('.')}. Set it on the "
            "deployment (litellm_params input_cost_per_token / output_cost_per_token, model_info "
            "max_input_tokens, or base_model naming a model of litellm's price map), "
            "in model_info.modelmuxer, or in register(overrides={id: {...}}). A deployment that "
            "does not answer chat requests: set its model_info.mode (embedding, "
            "image_generation, audio_transcription...)."
        ) from exc
