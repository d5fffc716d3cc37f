"""Operational events: what happened around a request that is not a model call.

Plugins receive them through :func:`~modelmuxer.hookspecs.modelmuxer_event` (metrics, alerts,
logs). Emitting costs one check when no plugin listens. Every name ModelMuxer emits is listed in
:data:`EVENT_NAMES` with what its ``data`` holds; plugins may emit their own names (prefix them
with the plugin's name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import pluggy

if TYPE_CHECKING:
    from modelmuxer.context import RequestContext

__all__ = ["EVENT_NAMES", "emit"]

#: every event ModelMuxer emits -> what its ``data`` carries
EVENT_NAMES: Final[Mapping[str, str]] = {
    "retry": "model, attempt (1-based), delay_s, error (the error's class name)",
    "fallback": "from_model, to_model, reason (the error kind, e.g. rate_limit, timeout)",
    "breaker.opened": "model, failures (in the window)",
    "breaker.half_open": "model",
    "breaker.closed": "model",
    "ratelimit.rejected": "scope (user / org / project / model / global), subject, kind "
    "(requests / tokens), retry_after_s",
    "shared_state.unavailable": "component (cache / budgets / limits / ledger), rule "
    "(open / closed), error",
    "policy.denied": "rule, model",
    "pii.redacted": "counts ({kind: count})",
    "pii.detected": "counts ({kind: count}); privacy.mode 'detect': nothing was redacted",
    "budget.threshold": "budget (its name, e.g. user:*/day), subject, threshold (a fraction of "
    "the limit, e.g. 0.8), spent_usd, limit_usd, resets_at (ISO 8601, None for total); once "
    "per budget window and threshold",
    "spend.spike": "window_s, spend_usd (this window so far), baseline_usd (the average "
    "window before it), factor; once per window",
    "decrypt.failed": "component (cache), what (cache entry), reason (unknown_key / tampered / "
    "malformed / disabled): an entry encrypted at rest was not readable, served as a miss",
}


def emit(
    pm: pluggy.PluginManager, name: str, ctx: RequestContext | None = None, **data: Any
) -> None:
    """Broadcast event ``name`` with ``data`` to every ``modelmuxer_event`` implementation."""
    hook = pm.hook.modelmuxer_event
    if hook.get_hookimpls():
        hook(name=name, ctx=ctx, data=data)
