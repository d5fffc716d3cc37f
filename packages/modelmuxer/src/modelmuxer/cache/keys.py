"""Canonical cache keys: the tenant partition, the normalized messages, the model (or the strategy
and candidate set) and every generation parameter that changes the answer.

A key is a 128-bit blake2b digest of a compact JSON encoding; equal requests give equal keys in
every process (no ``hash()``, which is salted per process). What is left out on purpose:
``request_id``, ``tags``, ``metadata``, ``timeout_s`` and the per-call cache options, which do
not change the answer.

Parts that plain JSON cannot encode (an object in ``response_format``, an integer of thousands
of digits) switch the whole key to a type-tagged encoding, in which values of different types
never encode alike: such a request gets a stable key of its own, never another request's.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from hashlib import blake2b
from typing import Any, NoReturn

from modelmuxer.cache.settings import TenantScope
from modelmuxer.errors import InvalidRequest
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


class _NotJson(Exception):
    """A part plain JSON cannot encode: the key uses the tagged encoding instead."""


def _not_json(value: object) -> NoReturn:
    raise _NotJson


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
_ENCODE_PARTS = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_not_json
).encode
#: Deepest nesting the tagged encoding follows (requests are validated far below it).
_MAX_DEPTH = 200


def _tagged(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON in which every value carries its type: ``["s", text]``,
    ``["i", hex]``, ``["d", [[key, value]...]]``, ``["o", class, repr]``... Mappings and sets
    are sorted, so their order never matters."""
    if depth > _MAX_DEPTH:
        raise InvalidRequest("nested too deeply to be cached", field="params")
    if value is None or isinstance(value, bool):
        return ["n" if value is None else "b", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, int):
        return ["i", format(value, "x")]  # hex: no limit on the number of digits
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, dict):
        items = [[_tagged(k, depth + 1), _tagged(v, depth + 1)] for k, v in value.items()]
        return ["d", sorted(items, key=_ENCODE)]
    if isinstance(value, list | tuple):  # both are JSON arrays
        return ["l", [_tagged(v, depth + 1) for v in value]]
    if isinstance(value, set | frozenset):  # sorted: a set's repr changes with the hash seed
        return ["S", sorted((_tagged(v, depth + 1) for v in value), key=_ENCODE)]
    # e.g. a schema class in response_format: its repr names it; an unstable repr (one with a
    # memory address) only costs misses, never a wrong hit
    try:
        shown = repr(value)
    except Exception:  # a broken __repr__: this object's identity, a miss every time
        shown = f"at {id(value):x}"
    return ["o", f"{type(value).__module__}.{type(value).__qualname__}", shown]


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


def _zero(value: float | None) -> float | None:
    # -0.0 and 0.0 ask for the same answer, but encode differently
    return None if value is None else value + 0.0


def _params(params: GenerationParams) -> list[Any]:
    # python mode: a tool schema holding a non-JSON value keys (tagged) instead of raising
    tools = [t.model_dump(exclude_none=True) for t in params.tools] if params.tools else None
    key = [
        _zero(params.temperature),
        params.top_p,
        params.max_tokens,
        params.stop,
        params.seed,
        tools,
        params.tool_choice,
        params.response_format,
    ]
    if params.parallel_tool_calls is not None:  # (appended: keys without it stay as they were)
        key.append(params.parallel_tool_calls)
    return key


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
        _zero(routing.quality_target),
        _zero(routing.cost_weight),
    ]


def _digest(parts: list[Any]) -> str:
    try:
        text = _ENCODE_PARTS(parts)
    except (_NotJson, TypeError, ValueError, RecursionError):  # a non-str key, a huge int...
        # Never equal to a plain encoding: those start with [KEY_VERSION, "x" | "s" | "d"].
        text = _ENCODE([KEY_VERSION, "tagged", _tagged(parts)])
    # surrogatepass: a request built without validation may hold a lone surrogate
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


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
            _zero(routing.quality_target),
            _zero(routing.cost_weight),
        ]
    )
