"""An in-process LRU map bounded by entries and bytes, with a time to live."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LRUStore"]

V = TypeVar("V")


class LRUStore(Generic[V]):
    """Least-recently-used entries go first when either bound is reached; expired entries are
    dropped when read. ``size`` is what each entry counts against ``max_bytes`` (the caller
    measures it, e.g. the length of its JSON)."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[V, int, float]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> V | None:
        """The live value under ``key`` (now most recently used), or ``None``."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[2] <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: str, value: V, size: int, ttl_s: float | None = None) -> bool:
        """Store ``value``; false (nothing stored) when it alone exceeds ``max_bytes``."""
        if size > self.max_bytes:
            return False
        if key in self._items:
            self._drop(key)
        expires = self._clock() + (self.ttl_s if ttl_s is None else ttl_s)
        self._items[key] = (value, size, expires)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._items)))
        return True

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""
        if key in self._items:
            self._drop(key)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        _, size, _ = self._items.pop(key)
        self._bytes -= size

    @property
    def bytes(self) -> int:
        """The sizes of the entries held, summed."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
