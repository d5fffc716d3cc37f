"""How the response and routing-decision caches are configured: :class:`CacheSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelmuxer._secrets import SecretUrl

__all__ = ["CacheSettings", "RedisVectorSearch", "TenantScope"]

#: Which identity fields partition the cache: ``org`` (one partition per organisation) or
#: ``org+user`` (one per user of each organisation). Requests without an org share the
#: anonymous partition of their scope.
TenantScope = Literal["org", "org+user"]

#: Where the semantic cache searches vectors kept in Redis: ``server`` (the search module's
#: ``FT.SEARCH`` KNN, RediSearch >= 2.4), ``client`` (a local mirror of each partition's stream,
#: searched in process), or ``auto`` (``server`` when the server has it, else ``client``).
RedisVectorSearch = Literal["auto", "server", "client"]


class CacheSettings(BaseModel):
    """The ``cache`` section of :class:`~modelmuxer.config.MuxerSettings`.

    Off by default: a cache changes what the ledger bills and can serve a stored answer to a
    request that expected a fresh sample. ``enabled=True`` is the one setting that turns on the
    exact response cache (in memory) and the routing-decision cache. The semantic cache is a
    second opt-in (``semantic=True``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="exact response cache and decision cache")
    exact_sampled: bool = Field(
        default=True,
        description="exact cache also for sampled requests (temperature unset or above 0); "
        "false caches only temperature-0 requests",
    )
    backend: Literal["memory", "redis"] = Field(default="memory", description="where answers live")
    redis_url: SecretUrl = Field(
        default=SecretUrl("redis://127.0.0.1:6379/0"),
        description="for backend redis; its password is masked wherever the settings are shown",
    )
    namespace: str = Field(
        default="modelmuxer", min_length=1, description="prefix of every Redis key"
    )
    ttl_s: float = Field(default=3600.0, gt=0.0, description="how long an answer is served")
    tenant_scope: TenantScope = Field(default="org", description="what partitions the cache")
    max_entries: int = Field(default=10_000, ge=1, description="memory backend: answers kept")
    max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="memory backend: bytes of answers kept"
    )
    semantic: bool = Field(default=False, description="also serve answers to similar prompts")
    semantic_threshold: float = Field(
        default=0.9, gt=0.0, le=1.0, description="cosine similarity a similar prompt needs"
    )
    semantic_sampled: bool = Field(
        default=False,
        description="semantic cache also for sampled requests and requests with tools",
    )
    semantic_max_entries: int = Field(
        default=10_000, ge=1, description="vectors kept per partition (tenant and context)"
    )
    semantic_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="bytes of vectors kept in process, all partitions (memory index and the "
        "Redis mirror)",
    )
    redis_vector_search: RedisVectorSearch = Field(
        default="auto",
        description="semantic cache on Redis: server-side vector search (server), a local "
        "mirror searched in process (client), or server when available (auto)",
    )
    embedder: str = Field(default="hashed-ngrams", min_length=1, description="semantic embedder")
    redis_timeout_s: float = Field(
        default=0.05, gt=0.0, le=5.0, description="timeout of every Redis call"
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="consecutive Redis failures that open the breaker"
    )
    breaker_cooldown_s: float = Field(
        default=5.0, gt=0.0, description="how long Redis is bypassed before a probe"
    )
    decision_entries: int = Field(
        default=4096, ge=0, description="routing decisions kept (0: no decision cache)"
    )
    decision_ttl_s: float = Field(default=300.0, gt=0.0, description="how long a decision lives")
