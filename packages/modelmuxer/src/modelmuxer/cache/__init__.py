"""Response and routing-decision caches: exact and semantic, in memory and in Redis, never
across tenants.

:class:`ResponseCache` is consulted by :class:`~modelmuxer.Muxer` before routing and fed after
the call; :class:`DecisionCache` lets a repeated prompt skip analysis and scoring. Both are
configured by :class:`CacheSettings` (the ``cache`` setting). See ``docs/caching.md``.

The Redis backend (redis-py) and the semantic cache (numpy) load only when configured.
"""

from modelmuxer._breaker import CircuitBreaker
from modelmuxer.cache.answers import AnswerStore, MemoryAnswers
from modelmuxer.cache.decisions import DecisionCache
from modelmuxer.cache.embedders import Embedder, EmbedderRegistry, HashedNgramEmbedder
from modelmuxer.cache.factory import build_decision_cache, build_response_cache
from modelmuxer.cache.guards import prompt_signature
from modelmuxer.cache.keys import context_key, decision_key, exact_key, tenant_of
from modelmuxer.cache.memory import LRUStore
from modelmuxer.cache.response import ResponseCache, replay
from modelmuxer.cache.settings import CacheSettings, TenantScope

__all__ = [
    "AnswerStore",
    "CacheSettings",
    "CircuitBreaker",
    "DecisionCache",
    "Embedder",
    "EmbedderRegistry",
    "HashedNgramEmbedder",
    "LRUStore",
    "MemoryAnswers",
    "ResponseCache",
    "TenantScope",
    "build_decision_cache",
    "build_response_cache",
    "context_key",
    "decision_key",
    "exact_key",
    "prompt_signature",
    "replay",
    "tenant_of",
]
