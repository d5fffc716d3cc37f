"""Where exact answers live: the :class:`AnswerStore` protocol and the in-memory store."""

from __future__ import annotations

from typing import Protocol

from modelmuxer.cache.memory import LRUStore
from modelmuxer.types import Completion

__all__ = ["AnswerStore", "MemoryAnswers"]


class AnswerStore(Protocol):
    """Completions by cache key, with a TTL. Never raises for an unavailable backend."""

    async def get(self, key: str) -> Completion | None:
        """The stored answer, or ``None``."""
        ...

    async def put(self, key: str, completion: Completion, ttl_s: float) -> None:
        """Store ``completion`` for ``ttl_s`` seconds."""
        ...

    async def aclose(self) -> None:
        """Release connections of the running event loop."""
        ...


class MemoryAnswers:
    """Answers in process: LRU bounded by entries and by the bytes of their JSON, with a TTL."""

    def __init__(self, *, max_entries: int, max_bytes: int, ttl_s: float) -> None:
        self.store: LRUStore[Completion] = LRUStore(
            max_entries=max_entries, max_bytes=max_bytes, ttl_s=ttl_s
        )

    async def get(self, key: str) -> Completion | None:
        return self.store.get(key)

    async def put(self, key: str, completion: Completion, ttl_s: float) -> None:
        self.store.put(key, completion, len(completion.model_dump_json()), ttl_s)

    async def aclose(self) -> None:
        """Nothing to release."""
