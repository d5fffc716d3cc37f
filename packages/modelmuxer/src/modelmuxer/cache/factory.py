"""Building the caches a muxer's settings ask for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

from modelmuxer._breaker import CircuitBreaker
from modelmuxer.cache.answers import AnswerStore, MemoryAnswers
from modelmuxer.cache.decisions import DecisionCache
from modelmuxer.cache.response import ResponseCache
from modelmuxer.cache.settings import CacheSettings
from modelmuxer.events import emit
from modelmuxer.pipeline.router import Router

if TYPE_CHECKING:
    from modelmuxer.crypto import Encryptor
    from modelmuxer.transport import RedisTLS

__all__ = ["build_decision_cache", "build_response_cache"]


def build_decision_cache(pm: pluggy.PluginManager, settings: CacheSettings) -> DecisionCache | None:
    """The routing-decision cache, or ``None`` when caching or the decision cache is off."""
    if not settings.enabled or settings.decision_entries == 0:
        return None
    return DecisionCache(pm, max_entries=settings.decision_entries, ttl_s=settings.decision_ttl_s)


def build_response_cache(
    pm: pluggy.PluginManager,
    settings: CacheSettings,
    *,
    candidates: Sequence[str],
    router: Router,
    tls: RedisTLS | None = None,
    encryptor: Encryptor | None = None,
) -> ResponseCache:
    """The response cache ``settings`` describe (inert when ``settings.enabled`` is false).

    The Redis backend and the semantic cache import redis-py and numpy here, only when used.
    ``tls``: the options of a ``rediss://`` URL. ``encryptor``: answers in Redis are stored
    encrypted, and the semantic index keeps keyed digests of the prompts' signatures instead
    of the signatures (the vectors stay as they are); memory backends are not affected.
    """
    if not settings.enabled:
        answers: AnswerStore = MemoryAnswers(max_entries=1, max_bytes=1024, ttl_s=1.0)
        return ResponseCache(pm, settings, answers, candidates=candidates, router=router)
    guarded = None
    if settings.backend == "redis":
        from modelmuxer.cache.redis import GuardedRedis, RedisAnswers, check_url

        url = settings.redis_url.get_secret_value()
        check_url(url)

        breaker = CircuitBreaker(
            failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        )
        guarded = GuardedRedis(url, timeout_s=settings.redis_timeout_s, breaker=breaker, tls=tls)

        def unreadable(reason: str) -> None:
            emit(pm, "decrypt.failed", component="cache", what="cache entry", reason=reason)

        answers = RedisAnswers(
            guarded, settings.namespace, encryptor=encryptor, on_unreadable=unreadable
        )
    else:
        answers = MemoryAnswers(
            max_entries=settings.max_entries, max_bytes=settings.max_bytes, ttl_s=settings.ttl_s
        )
    semantic = None
    if settings.semantic:
        from modelmuxer.cache.embedders import EmbedderRegistry
        from modelmuxer.cache.semantic import MemoryVectorIndex, SemanticCache, VectorIndex

        embedder = EmbedderRegistry(pm).get(settings.embedder)
        index: VectorIndex
        if guarded is not None:
            from modelmuxer.cache.redis_search import RedisSemanticIndex

            index = RedisSemanticIndex(
                guarded,
                settings.namespace,
                mode=settings.redis_vector_search,
                capacity=settings.semantic_max_entries,
                max_bytes=settings.semantic_max_bytes,
            )
        else:
            index = MemoryVectorIndex(
                capacity=settings.semantic_max_entries, max_bytes=settings.semantic_max_bytes
            )
        signer = encryptor.digest if guarded is not None and encryptor is not None else None
        semantic = SemanticCache(embedder, index, settings.semantic_threshold, signer=signer)
    return ResponseCache(
        pm, settings, answers, candidates=candidates, router=router, semantic=semantic
    )
