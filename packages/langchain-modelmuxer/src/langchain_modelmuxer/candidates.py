"""Candidates given as LangChain chat model objects: ids, price aliases and capabilities.

:func:`wrap` names an object and overrides what the price map says about it; a bare object is
wrapped with defaults. :func:`split_candidates` turns a ``models`` list into the specs the muxer
builds its catalog from plus the objects the ``langchain`` backend calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from langchain_modelmuxer.backend import BACKEND_NAME
from modelmuxer.catalog import ModelLike, ModelSpec, lookup_model

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "Split",
    "WrappedModel",
    "model_name_of",
    "split_candidates",
    "wrap",
]

#: Context window assumed for a wrapped model the price map does not know (override it).
DEFAULT_CONTEXT_WINDOW = 128_000
_NAME_ATTRS = ("model_name", "model", "model_id", "deployment_name")


@dataclass(frozen=True, slots=True)
class WrappedModel:
    """A LangChain chat model as a candidate: the object and its :class:`ModelSpec` overrides."""

    model: Runnable[Any, Any]
    id: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


def wrap(model: Runnable[Any, Any], *, id: str | None = None, **overrides: Any) -> WrappedModel:
    """A LangChain chat model as a candidate, with an id and :class:`ModelSpec` overrides.

    ``overrides`` are any :class:`~modelmuxer.ModelSpec` fields: prices
    (``input_price_per_mtok=0.15, output_price_per_mtok=0.6``), ``capabilities``,
    ``context_window``, ``quality``... The default id is ``langchain/<model name>``.
    """
    return WrappedModel(model=model, id=id, overrides=dict(overrides))


def model_name_of(model: Runnable[Any, Any]) -> str | None:
    """The provider model name a LangChain chat model is configured with, if it says."""
    target = getattr(model, "bound", model)  # a RunnableBinding (model.bind(...)) wraps one
    for attr in _NAME_ATTRS:
        value = getattr(target, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Split:
    """``models`` sorted out: every candidate's spec, and the objects behind the wrapped ones."""

    specs: list[ModelLike]
    objects: dict[str, Runnable[Any, Any]]
    aliases: dict[str, str]


def split_candidates(models: Sequence[Any]) -> Split:
    """Specs for the muxer's catalog, plus the wrapped objects by id and their price aliases."""
    specs: list[ModelLike] = []
    objects: dict[str, Runnable[Any, Any]] = {}
    aliases: dict[str, str] = {}
    for item in models:
        if isinstance(item, Runnable):
            item = WrappedModel(model=item)
        if not isinstance(item, WrappedModel):
            specs.append(item)
            continue
        spec, alias = _spec_for(item, taken=objects)
        objects[spec.id] = item.model
        aliases[spec.id] = alias
        specs.append(spec)
    return Split(specs, objects, aliases)


def _spec_for(item: WrappedModel, taken: Mapping[str, object]) -> tuple[ModelSpec, str]:
    name = model_name_of(item.model)
    model_id = (
        item.id or f"langchain/{name or type(getattr(item.model, 'bound', item.model)).__name__}"
    )
    if item.id is None and model_id in taken:
        n = 2
        while f"{model_id}#{n}" in taken:
            n += 1
        model_id = f"{model_id}#{n}"
    alias = name or model_id
    fields: dict[str, Any] = {"id": model_id, "backend": BACKEND_NAME, **item.overrides}
    capabilities = dict(fields.get("capabilities") or {})
    capabilities.setdefault("tools", _can_call_tools(item.model))
    fields["capabilities"] = capabilities
    if "context_window" not in fields and lookup_model(alias) is None:
        fields["context_window"] = DEFAULT_CONTEXT_WINDOW
    return ModelSpec.model_validate(fields), alias


def _can_call_tools(model: Runnable[Any, Any]) -> bool:
    """True when the object's class implements ``bind_tools`` (the base class's raises)."""
    target = getattr(model, "bound", model)
    return isinstance(target, BaseChatModel) and (
        type(target).bind_tools is not BaseChatModel.bind_tools
    )
