"""The model catalog: a :class:`ModelCard` per candidate, from litellm's price map + overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelmuxer.catalog.pricemap import lookup_model
from modelmuxer.catalog.priors import prior_for
from modelmuxer.errors import ConfigError, UnknownModel
from modelmuxer.types import Capabilities, Deployment, LatencyProfile, ModelCard

__all__ = ["Catalog", "ModelLike", "ModelSpec", "PriceAlias", "build_card"]


class ModelSpec(BaseModel):
    """A candidate as configured: an id plus any overrides of what the price map says.

    Prices may be given per token (``input_cost_per_token``) or per million tokens
    (``input_price_per_mtok``); 0 is a valid price (self-hosted models). ``capabilities`` may be
    partial: ``{"tools": True}`` keeps the other capabilities from the price map.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    id: str = Field(
        min_length=1,
        description="the model's id: a litellm model name, or one of the offline models",
    )
    provider: str | None = Field(default=None, description="the provider (else the price map's)")
    input_cost_per_token: float | None = Field(
        default=None, ge=0.0, description="USD per prompt token (else the price map's)"
    )
    output_cost_per_token: float | None = Field(
        default=None, ge=0.0, description="USD per output token (else the price map's)"
    )
    cached_input_cost_per_token: float | None = Field(
        default=None, ge=0.0, description="USD per prompt token a provider cache served"
    )
    input_price_per_mtok: float | None = Field(
        default=None, ge=0.0, description="USD per million prompt tokens (instead of per token)"
    )
    output_price_per_mtok: float | None = Field(
        default=None, ge=0.0, description="USD per million output tokens (instead of per token)"
    )
    context_window: int | None = Field(
        default=None, gt=0, description="prompt plus output tokens it accepts (else the map's)"
    )
    max_output_tokens: int | None = Field(
        default=None, gt=0, description="output tokens it can write (else the price map's)"
    )
    capabilities: dict[str, bool] = Field(
        default_factory=dict,
        description="tools, vision, json_mode...: true / false; the rest from the price map",
    )
    quality: float | None = Field(
        default=None, ge=0.0, le=1.0, description="quality prior, 0-1 (else the built-in priors)"
    )
    quality_by_task: dict[str, float] = Field(
        default_factory=dict, description="quality prior (0-1) per task type (code, maths...)"
    )
    latency: LatencyProfile | None = None
    deployment: Deployment = Field(default_factory=Deployment)
    backend: str | None = Field(
        default=None,
        description="the backend plugin that calls it (else the first that claims its id)",
    )

    def input_cost(self) -> float | None:
        if self.input_cost_per_token is not None:
            return self.input_cost_per_token
        return None if self.input_price_per_mtok is None else self.input_price_per_mtok / 1e6

    def output_cost(self) -> float | None:
        if self.output_cost_per_token is not None:
            return self.output_cost_per_token
        return None if self.output_price_per_mtok is None else self.output_price_per_mtok / 1e6


ModelLike = str | ModelSpec | ModelCard | Mapping[str, Any]
#: Maps a model id (and the backend named on its spec) to the id its prices are listed under.
PriceAlias = Callable[[str, str | None], str]


def _as_spec(model: ModelLike) -> ModelSpec | ModelCard:
    if isinstance(model, ModelSpec | ModelCard):
        return model
    if isinstance(model, str):
        return ModelSpec(id=model)
    try:
        return ModelSpec.model_validate(dict(model))
    except ValidationError as exc:
        # Not the spec's repr nor pydantic's message: they would show the input, and a
        # deployment's extra parameters may hold credentials.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid model specification {model.get('id')!r}: {problems}") from None


def _capabilities(entry: Mapping[str, Any], overrides: Mapping[str, bool]) -> Capabilities:
    base = {
        "tools": bool(entry.get("supports_function_calling", False)),
        "vision": bool(entry.get("supports_vision", False)),
        "json_mode": bool(
            entry.get("supports_response_schema", False)
            or entry.get("supports_native_structured_output", False)
        ),
        "streaming": True,
    }
    unknown = set(overrides) - set(base)
    if unknown:
        raise ConfigError(
            f"unknown capabilities {sorted(unknown)}; known: tools, vision, json_mode, streaming"
        )
    return Capabilities(**{**base, **overrides})


def build_card(spec: ModelSpec, price_alias: str) -> ModelCard:
    """One card from a spec and the price map entry found under ``price_alias``."""
    found = lookup_model(price_alias)
    entry: Mapping[str, Any] = found[1] if found else {}
    input_cost = spec.input_cost()
    output_cost = spec.output_cost()
    if input_cost is None:
        input_cost = entry.get("input_cost_per_token")
    if output_cost is None:
        output_cost = entry.get("output_cost_per_token")
    if input_cost is None or output_cost is None:
        where = f"has no prices for {price_alias!r}" if found else f"has no entry {price_alias!r}"
        raise ConfigError(
            f"model {spec.id!r}: no known price (litellm's price map {where}). Set "
            "input_price_per_mtok and output_price_per_mtok (0 for a self-hosted model)."
        )
    context_window = spec.context_window or entry.get("max_input_tokens") or entry.get("max_tokens")
    if not isinstance(context_window, int) or context_window <= 0:
        raise ConfigError(
            f"model {spec.id!r}: unknown context window; set context_window (in tokens)"
        )
    max_output = spec.max_output_tokens or entry.get("max_output_tokens")
    if not isinstance(max_output, int) or max_output <= 0:
        max_output = min(context_window, 4096)
    provider = spec.provider or entry.get("litellm_provider") or price_alias.partition("/")[0]
    prior = prior_for(price_alias, float(input_cost), float(output_cost))
    cached = spec.cached_input_cost_per_token
    if cached is None and spec.input_cost() is None:
        cached = entry.get("cache_read_input_token_cost")
    try:
        return ModelCard(
            id=spec.id,
            provider=str(provider),
            input_cost_per_token=float(input_cost),
            output_cost_per_token=float(output_cost),
            cached_input_cost_per_token=cached,
            context_window=context_window,
            max_output_tokens=min(max_output, context_window),
            capabilities=_capabilities(entry, spec.capabilities),
            quality=spec.quality if spec.quality is not None else prior.quality,
            quality_by_task=spec.quality_by_task,
            latency=spec.latency
            or LatencyProfile(ttft_s=prior.ttft_s, tokens_per_s=prior.tokens_per_s),
            deployment=spec.deployment,
            backend=spec.backend,
        )
    except ValidationError as exc:
        raise ConfigError(f"model {spec.id!r}: {exc}") from exc


class Catalog:
    """The muxer's candidates, in the order given. Ids are unique."""

    def __init__(self, cards: Iterable[ModelCard]) -> None:
        self._cards: dict[str, ModelCard] = {}
        for card in cards:
            if card.id in self._cards:
                raise ConfigError(f"model {card.id!r} is listed twice; ids must be unique")
            self._cards[card.id] = card
        if not self._cards:
            raise ConfigError("a muxer needs at least one candidate model")

    @classmethod
    def build(cls, models: Iterable[ModelLike], price_alias: PriceAlias) -> Catalog:
        """Cards for ``models`` (ids, specs, dicts or ready cards), priced via ``price_alias``."""
        cards = []
        for model in models:
            spec = _as_spec(model)
            if isinstance(spec, ModelCard):
                cards.append(spec)
            else:
                cards.append(build_card(spec, price_alias(spec.id, spec.backend)))
        return cls(cards)

    def get(self, model_id: str) -> ModelCard:
        try:
            return self._cards[model_id]
        except KeyError:
            raise UnknownModel(model_id, list(self._cards)) from None

    def ids(self) -> list[str]:
        return list(self._cards)

    def cards(self) -> tuple[ModelCard, ...]:
        return tuple(self._cards.values())

    def __iter__(self) -> Iterator[ModelCard]:
        return iter(self._cards.values())

    def __len__(self) -> int:
        return len(self._cards)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._cards
