"""The semantic cache: serve the answer of a *similar* earlier prompt, within one partition.

A partition (:func:`~modelmuxer.cache.keys.context_key`) fixes the tenant, the model or routing
target, every generation parameter and the earlier conversation; only the text of the last
message is compared. A stored prompt matches when its signature
(:func:`~modelmuxer.cache.guards.prompt_signature`) equals the new prompt's and the cosine
similarity of their embeddings reaches the threshold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from modelmuxer.cache.embedders import Embedder
from modelmuxer.cache.guards import prompt_signature
from modelmuxer.cache.memory import LRUStore
from modelmuxer.cache.vectors import VectorTable, normalize_rows

__all__ = ["MemoryVectorIndex", "Probe", "SemanticCache", "VectorIndex"]


class VectorIndex(Protocol):
    """Where the semantic cache keeps its vectors, partitioned."""

    async def search(
        self, partition: str, vector: npt.NDArray[np.float32], signature: str, threshold: float
    ) -> tuple[str, float] | None:
        """The answer key and similarity of the best match, or ``None``."""
        ...

    async def add(
        self,
        partition: str,
        key: str,
        signature: str,
        vector: npt.NDArray[np.float32],
        ttl_s: float,
    ) -> None:
        """Remember that ``vector`` (with ``signature``) is answered under ``key``."""
        ...


class MemoryVectorIndex:
    """One :class:`VectorTable` per partition, in process; partitions are evicted least
    recently used when their vectors exceed ``max_bytes``."""

    def __init__(
        self, *, capacity: int, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.capacity = capacity
        self._clock = clock
        self._tables: LRUStore[VectorTable] = LRUStore(
            max_entries=1_000_000, max_bytes=max_bytes, ttl_s=float("inf")
        )

    async def search(
        self, partition: str, vector: npt.NDArray[np.float32], signature: str, threshold: float
    ) -> tuple[str, float] | None:
        table = self._tables.get(partition)
        if table is None:
            return None
        return table.search(vector, signature, threshold, self._clock())

    async def add(
        self,
        partition: str,
        key: str,
        signature: str,
        vector: npt.NDArray[np.float32],
        ttl_s: float,
    ) -> None:
        table = self._tables.get(partition)
        if table is None:
            table = VectorTable(self.capacity)
        before = table.nbytes
        table.add(key, signature, self._clock() + ttl_s, vector)
        if before != table.nbytes or partition not in self._tables:
            self._tables.put(partition, table, table.nbytes)  # grown: count it, maybe evict

    @property
    def nbytes(self) -> int:
        """Bytes of the vectors held."""
        return self._tables.bytes


@dataclass(frozen=True, slots=True)
class Probe:
    """A semantic lookup: the prompt's vector and signature (reused to store the answer), and
    the match (answer key, similarity) if one was found."""

    partition: str
    vector: npt.NDArray[np.float32]
    signature: str
    match: tuple[str, float] | None


class SemanticCache:
    """Embeds the last message, searches its partition, and remembers new answers.

    ``signer``: applied to each prompt signature before it reaches the index (a keyed digest
    when answers are encrypted at rest: the signature holds the prompt's numbers, names and
    quoted phrases); equal signatures stay equal.
    """

    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        threshold: float,
        *,
        signer: Callable[[str], str] | None = None,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.threshold = threshold
        self.signer = signer

    async def probe(self, partition: str, text: str, threshold: float | None = None) -> Probe:
        """Search ``partition`` for ``text``; ``threshold`` may only raise the configured one."""
        limit = max(self.threshold, threshold or 0.0)
        vector = normalize_rows(await self.embedder.aembed([text]))[0]
        signature = prompt_signature(text)
        if self.signer is not None:
            signature = self.signer(signature)
        match = await self.index.search(partition, vector, signature, limit)
        return Probe(partition, vector, signature, match)

    async def remember(self, probe: Probe, key: str, ttl_s: float) -> None:
        """Make the answer stored under ``key`` findable by prompts similar to the probed one."""
        await self.index.add(probe.partition, key, probe.signature, probe.vector, ttl_s)
