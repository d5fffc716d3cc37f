"""A LiteLLM request as a ModelMuxer :class:`~modelmuxer.types.Request`, for routing only.

The request is what the strategy and the hard constraints look at (prompt length for the context
window, tools, images, JSON output, ``max_tokens``); LiteLLM still sends the caller's own
messages. Messages ModelMuxer's types do not accept (audio or file parts, provider-specific
fields) are reduced to their text rather than rejected: routing must never fail a call that
LiteLLM could make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from modelmuxer.errors import InvalidRequest
from modelmuxer.pipeline import build_request
from modelmuxer.types import GenerationParams, Identity, Request

__all__ = ["routing_request"]

#: The generation parameters routing reads, under the names LiteLLM and ModelMuxer share
#: (LiteLLM's ``timeout`` is its own: the call's deadline is LiteLLM's to keep).
_PARAMS: Final = tuple(name for name in GenerationParams.model_fields if name != "timeout_s")


def _params(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    params = {key: kwargs[key] for key in _PARAMS if kwargs.get(key) is not None}
    if "max_tokens" not in params and kwargs.get("max_completion_tokens") is not None:
        params["max_tokens"] = kwargs["max_completion_tokens"]
    return params


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        ).strip()
    return ""


def _plain(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """The messages reduced to role and text (tool turns become text, the last one stays a user
    turn): enough to size the prompt and read the task."""
    plain: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        text = _text_of(message.get("content"))
        if not text:
            continue
        plain.append({"role": role if role in ("system", "user") else "user", "content": text})
    return plain or [{"role": "user", "content": "(no text)"}]


def routing_request(
    messages: Sequence[Any] | None,
    kwargs: Mapping[str, Any],
    *,
    identity: Identity,
    tags: frozenset[str],
    request_id: str,
    strategy: str | None = None,
    routing: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Request:
    """The routing view of a LiteLLM call (``kwargs``: its request keyword arguments).

    ``routing``: :class:`~modelmuxer.types.RoutingOptions` fields (``allow``, ``deny``,
    ``max_cost_usd``, ``quality_target``, ``cost_weight``); ``metadata``: the request's metadata,
    for policies to read. An invalid ``routing`` is an :class:`InvalidRequest`.
    """
    params = _params(kwargs)
    listed = list(messages or kwargs.get("messages") or ())
    fields: dict[str, Any] = {
        "identity": identity,
        "tags": tags,
        "request_id": request_id,
        "strategy": strategy,
        "routing": routing,
        "metadata": metadata,
    }
    try:
        return build_request(listed, params=params, **fields)
    except InvalidRequest:
        pass
    try:  # unusual message shapes: keep the parameters, reduce the messages to their text
        return build_request(_plain(listed), params=params, **fields)
    except InvalidRequest:
        # unusual parameters too (a provider-specific tool shape...): keep what constrains
        # routing and is plain data
        kept = {
            k: params[k]
            for k in ("max_tokens",)
            if isinstance(params.get(k), int) and params[k] > 0
        }
        return build_request(_plain(listed), params=kept, **fields)
