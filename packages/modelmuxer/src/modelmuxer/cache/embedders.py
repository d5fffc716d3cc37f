"""Embedders for the semantic cache: the plugin protocol, the registry, and the default.

An embedder turns texts into vectors; the semantic cache normalises them and compares them by
cosine similarity. Embedders are plugins (hook ``modelmuxer_register_embedders``); the setting
``cache.embedder`` names the one used. The default, ``hashed-ngrams``, needs no download: it
hashes words and character trigrams into a fixed-size vector, so it finds prompts that differ
in case, punctuation, word order or a few words, not paraphrases with other words (use a real
embedding model, through the LangChain or LlamaIndex adapter, for those).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

from modelmuxer.errors import ConfigError, PluginError
from modelmuxer.hookspecs import hookimpl

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Embedder",
    "EmbedderRegistry",
    "HashedNgramEmbedder",
    "modelmuxer_register_embedders",
]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. ``name`` identifies it in settings (``cache.embedder``);
    vectors of one embedder must all have the same length."""

    name: str

    async def aembed(
        self, texts: Sequence[str]
    ) -> Sequence[Sequence[float]] | npt.NDArray[np.floating[Any]]:
        """One vector per text, in order (lists of floats or a 2-D numpy array)."""
        ...


_WORD = re.compile(r"\w+")


class HashedNgramEmbedder:
    """Words and character trigrams hashed (crc32, stable across processes) into ``dimensions``
    signed buckets. No model, no download, about 20-60 µs per short prompt."""

    name = "hashed-ngrams"

    def __init__(self, dimensions: int = 256) -> None:
        if dimensions < 16:
            raise ConfigError("HashedNgramEmbedder needs at least 16 dimensions")
        self.dimensions = dimensions

    def embed_one(self, text: str) -> npt.NDArray[np.float32]:
        """The vector of ``text`` (not normalised)."""
        import numpy as np  # loaded at first use: building a muxer stays numpy-free

        lowered = " ".join(_WORD.findall(text.lower()))
        grams = [w.encode() for w in lowered.split()]
        padded = f" {lowered} ".encode()
        grams += [padded[i : i + 3] for i in range(len(padded) - 2)]
        hashes = np.fromiter((zlib.crc32(g) for g in grams), dtype=np.uint32, count=len(grams))
        buckets = (hashes % self.dimensions).astype(np.intp)
        signs = np.where(hashes & 0x80000000, -1.0, 1.0)
        return np.bincount(buckets, weights=signs, minlength=self.dimensions).astype(np.float32)

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The vectors of ``texts``, one row each."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.embed_one(t) for t in texts])


@hookimpl
def modelmuxer_register_embedders(register: Callable[[Embedder], None]) -> None:
    """The built-in embedder."""
    register(HashedNgramEmbedder())


class EmbedderRegistry:
    """The embedders registered on one muxer, by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._by_name: dict[str, Embedder] = {}
        pm.hook.modelmuxer_register_embedders(register=self._register)

    def _register(self, embedder: Embedder) -> None:
        if not isinstance(embedder, Embedder):
            raise PluginError(f"{embedder!r} is not an embedder: it needs name and aembed(texts)")
        if embedder.name in self._by_name:
            raise PluginError(f"two plugins register an embedder named {embedder.name!r}")
        self._by_name[embedder.name] = embedder

    def get(self, name: str) -> Embedder:
        """The embedder named ``name``; :class:`ConfigError` listing the known ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise ConfigError(
                f"no embedder named {name!r} (setting cache.embedder); registered: {known}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._by_name)
