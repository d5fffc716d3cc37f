"""The routing-decision cache: a repeated prompt skips query analysis and scoring."""

from __future__ import annotations

import pluggy

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.cache.keys import decision_key
from modelmuxer.cache.memory import LRUStore
from modelmuxer.context import RequestContext
from modelmuxer.types import Decision

__all__ = ["DecisionCache"]

_KEY = "modelmuxer.cache.decision_key"


class DecisionCache:
    """Decisions (with the query features) by :func:`~modelmuxer.cache.keys.decision_key`.

    Bypassed while a ``modelmuxer_filter_candidates`` policy or a ``modelmuxer_select``
    override is registered: those may read the identity, the time or outside state, which the
    key does not cover. Routing is otherwise a pure function of what the key covers (the
    catalog and the strategy settings are fixed for a muxer's life).
    """

    def __init__(self, pm: pluggy.PluginManager, *, max_entries: int, ttl_s: float) -> None:
        self._pm = pm
        self._store: LRUStore[tuple[Decision, QueryFeatures | None]] = LRUStore(
            max_entries=max_entries, max_bytes=max_entries, ttl_s=ttl_s
        )

    def usable(self) -> bool:
        """Whether routing depends only on the request right now (no policy, no override)."""
        hook = self._pm.hook
        return not hook.modelmuxer_filter_candidates.get_hookimpls() and (
            len(hook.modelmuxer_select.get_hookimpls()) <= 1
        )

    def get(self, ctx: RequestContext) -> Decision | None:
        """The cached decision for ``ctx.request`` (setting ``ctx.features``), or ``None``."""
        if not self.usable():
            return None
        key = decision_key(ctx.request, ctx.strategy)
        ctx.state[_KEY] = key
        hit = self._store.get(key)
        if hit is None:
            return None
        decision, features = hit
        ctx.features = features
        return decision

    def put(self, ctx: RequestContext, decision: Decision) -> None:
        """Remember ``decision`` for requests like ``ctx.request``."""
        key = ctx.state.pop(_KEY, None)
        if key is not None:
            self._store.put(key, (decision, ctx.features), 1)

    def __len__(self) -> int:
        return len(self._store)
