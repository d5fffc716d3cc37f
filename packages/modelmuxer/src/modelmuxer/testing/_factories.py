"""Small builders for cards, features, requests and routing tasks, for tests of strategies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.strategies.base import RoutingTask, StrategySettings
from modelmuxer.strategies.constraints import exclusion_reason
from modelmuxer.strategies.estimates import (
    PriorQualityEstimator,
    QualityEstimator,
    estimate_candidate,
    is_prompt_aware,
)
from modelmuxer.types import (
    Capabilities,
    FunctionSpec,
    GenerationParams,
    LatencyProfile,
    Message,
    ModelCard,
    Request,
    RoutingOptions,
    ToolChoice,
    ToolSpec,
)

__all__ = ["make_card", "make_features", "make_request", "make_task", "make_tool"]

_PER_MTOK = 1e-6

#: A short English question: what ``make_features()`` returns unless told otherwise.
_DEFAULT_FEATURES = QueryFeatures(
    prompt_tokens=40,
    expected_output_tokens=150,
    task_type="qa",
    complexity=0.2,
    code=0.0,
    math=0.0,
    reasoning=0.1,
    needs_tools=False,
    needs_json=False,
    has_images=False,
    language="en",
    conversation_depth=1,
)


def make_card(
    id: str,
    *,
    provider: str | None = None,
    input_price_per_mtok: float = 1.0,
    output_price_per_mtok: float = 2.0,
    quality: float = 0.7,
    quality_by_task: Mapping[str, float] | None = None,
    context_window: int = 128_000,
    max_output_tokens: int = 4096,
    tools: bool = True,
    vision: bool = False,
    json_mode: bool = True,
    streaming: bool = True,
    ttft_s: float = 0.5,
    tokens_per_s: float = 80.0,
    backend: str | None = None,
) -> ModelCard:
    """A model card with prices in USD per million tokens.

    The provider defaults to the id's prefix before ``/`` ("test" when there is none).
    """
    return ModelCard(
        id=id,
        provider=provider or (id.split("/", 1)[0] if "/" in id else "test"),
        input_cost_per_token=input_price_per_mtok * _PER_MTOK,
        output_cost_per_token=output_price_per_mtok * _PER_MTOK,
        context_window=context_window,
        max_output_tokens=max_output_tokens,
        capabilities=Capabilities(
            tools=tools, vision=vision, json_mode=json_mode, streaming=streaming
        ),
        quality=quality,
        quality_by_task=dict(quality_by_task or {}),
        latency=LatencyProfile(ttft_s=ttft_s, tokens_per_s=tokens_per_s),
        backend=backend,
    )


def make_features(**overrides: Any) -> QueryFeatures:
    """Query features of a short English question (complexity 0.2), with ``overrides`` applied.

    Unknown field names raise ``ValueError``.
    """
    return _DEFAULT_FEATURES._replace(**overrides)


def make_tool(name: str = "get_weather", description: str = "Look up the weather") -> ToolSpec:
    """A function tool taking a ``city`` string."""
    return ToolSpec(
        function=FunctionSpec(
            name=name,
            description=description,
            parameters={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    )


def make_request(
    prompt: str = "What is the capital of France?",
    *,
    system: str | None = None,
    tools: Sequence[ToolSpec] | None = None,
    tool_choice: ToolChoice | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    routing: RoutingOptions | None = None,
    request_id: str = "test-request",
) -> Request:
    """A one-turn request (with a fixed ``request_id`` so equal calls give equal requests)."""
    messages = [Message(role="user", content=prompt)]
    if system is not None:
        messages.insert(0, Message(role="system", content=system))
    return Request(
        messages=messages,
        params=GenerationParams(
            tools=list(tools) if tools is not None else None,
            tool_choice=tool_choice,
            response_format=response_format,
            max_tokens=max_tokens,
        ),
        routing=routing or RoutingOptions(),
        request_id=request_id,
    )


def make_task(
    cards: Iterable[ModelCard],
    *,
    features: QueryFeatures | None = None,
    request: Request | None = None,
    settings: StrategySettings | None = None,
    excluded: Mapping[str, str] | None = None,
    estimator: QualityEstimator | None = None,
) -> RoutingTask:
    """The routing task a strategy would receive for ``cards``, as the pipeline builds it.

    Cards that fail the hard constraints (``strategies.constraints.exclusion_reason``) are
    excluded with the reason; ``excluded`` adds models excluded by name (a policy, say), and a
    card named there is not a candidate. The others are estimated with ``estimator``
    (:class:`~modelmuxer.strategies.estimates.PriorQualityEstimator` by default).

    Raises ``ValueError`` when two cards share an id or no card remains eligible, since a
    strategy is never called without candidates.
    """
    features = features or make_features()
    request = request or make_request()
    estimator = estimator or PriorQualityEstimator()
    out_excluded = dict(excluded or {})
    candidates = []
    seen: set[str] = set()
    for card in cards:
        if card.id in seen:
            raise ValueError(f"two cards are named {card.id!r}")
        seen.add(card.id)
        if card.id in out_excluded:
            continue
        why = exclusion_reason(features, request, card)
        if why is not None:
            out_excluded[card.id] = why
            continue
        candidates.append(estimate_candidate(features, request, card, estimator))
    if not candidates:
        raise ValueError(f"no eligible candidate; excluded: {out_excluded}")
    return RoutingTask(
        request=request,
        features=features,
        candidates=tuple(candidates),
        excluded=out_excluded,
        settings=(settings or StrategySettings()).for_request(request),
        prompt_aware=is_prompt_aware(estimator),
    )
