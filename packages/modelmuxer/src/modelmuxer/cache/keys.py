"""Canonical cache keys: the tenant partition, the normalized messages, the model (or the strategy
and candidate set) and every generation parameter that changes the answer.

A key is a 128-bit blake2b digest of a compact JSON encoding; equal requests give equal keys in
every process (no ``hash()``, which is salted per process). What is left out on purpose:
``request_id``, ``tags``, ``metadata``, ``timeout_s`` and the per-call cache options, which do
not change the answer.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from modelmuxer.cache.settings import TenantScope
from modelmuxer.types import GenerationParams, Identity, Message, Request

__all__ = [
    "KEY_VERSION",
    "context_key",
    "decision_key",
    "exact_key",
    "normalize_text",
    "tenant_of",
]

#: Bumped when the encoding changes, so old entries are never read with a new meaning.
KEY_VERSION = "1"


def _unencodable(value: object) -> str:
    # e.g. a schema class in response_format: its repr names it; an unstable repr (one with a
    # memory address) only costs misses, never a wrong hit
    return f"{type(value).__qualname__}:{value!r}"


_ENCODE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_unencodable
).encode


def tenant_of(identity: Identity, scope: TenantScope) -> str:
    """The tenant partition of ``identity``: ``org`` or ``org`` and ``user`` (quoted, so an org
    named ``a/b`` and org ``a`` with user ``b`` never collide)."""
    if scope == "org":
        return _ENCODE([identity.org])
    return _ENCODE([identity.org, identity.user])


def normalize_text(text: str) -> str:
    """Unicode NFC with the ends stripped: invisible differences do not split the cache."""
    text = text.strip()
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _message(message: Message) -> list[Any]:
    content = message.content
    if isinstance(content, str):
        body: Any = normalize_text(content)
    elif content is None:
        body = None
    else:
        body = [part.model_dump(mode="json", exclude_none=True) for part in content]
    calls = (
        [[c.id, c.function.name, c.function.arguments] for c in message.tool_calls]
        if message.tool_calls
        else None
    )
    return [message.role, body, message.name, calls, message.tool_call_id]


def _params(params: GenerationParams) -> list[Any]:
    tools = (
        [t.model_dump(mode="json", exclude_none=True) for t in params.tools]
        if params.tools
        else None
    )
    return [
        params.temperature,
        params.top_p,
        params.max_tokens,
        params.stop,
        params.seed,
        tools,
        params.tool_choice,
        params.response_format,
    ]


def _target(request: Request, strategy: str, candidates: Sequence[str]) -> list[Any]:
    """The pinned model, or what routing chooses from: strategy, candidates and its knobs."""
    routing = request.routing
    if routing.model is not None:
        return ["model", routing.model]
    allowed = [c for c in candidates if c not in routing.deny]
    if routing.allow is not None:
        allowed = [c for c in allowed if c in routing.allow]
    return [
        "route",
        strategy,
        sorted(allowed),
        routing.max_cost_usd,
        routing.quality_target,
        routing.cost_weight,
    ]


def _digest(parts: list[Any]) -> str:
    return blake2b(_ENCODE(parts).encode(), digest_size=16).hexdigest()


def exact_key(
    request: Request, strategy: str, candidates: Sequence[str], scope: TenantScope
) -> str:
    """The exact-cache key of ``request`` routed by ``strategy`` over ``candidates``."""
    return _digest(
        [
            KEY_VERSION,
            "x",
            tenant_of(request.identity, scope),
            [_message(m) for m in request.messages],
            _target(request, strategy, candidates),
            _params(request.params),
        ]
    )


def context_key(
    request: Request, strategy: str, candidates: Sequence[str], scope: TenantScope
) -> str:
    """The semantic partition of ``request``: everything in :func:`exact_key` except the text of
    the last message. Only prompts sharing it are compared for similarity, so the tenant, the
    model, the parameters and the earlier conversation are always equal before similarity counts.
    """
    last = request.messages[-1]
    return _digest(
        [
            KEY_VERSION,
            "s",
            tenant_of(request.identity, scope),
            [_message(m) for m in request.messages[:-1]],
            [last.role, last.name, last.has_images],
            _target(request, strategy, candidates),
            _params(request.params),
        ]
    )


def decision_key(request: Request, strategy: str) -> str:
    """The routing-decision key: what routing reads when no policy plugin is registered.

    Routing reads the messages (analysis, eligibility), the parameters (tools, JSON mode,
    max tokens), the strategy and the routing options; identity only through policy plugins,
    and the decision cache is bypassed when any is registered.
    """
    routing = request.routing
    return _digest(
        [
            KEY_VERSION,
            "d",
            strategy,
            [_message(m) for m in request.messages],
            _params(request.params),
            routing.model,
            sorted(routing.allow) if routing.allow is not None else None,
            sorted(routing.deny),
            routing.max_cost_usd,
            routing.quality_target,
            routing.cost_weight,
        ]
    )
