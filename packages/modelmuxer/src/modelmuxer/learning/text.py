"""Text features of a prompt for the learned router: a sparse TF-IDF vector over a learned
vocabulary, plus a few dense features from query analysis.

Deterministic and dependency-free at run time (a regex, a dict lookup per distinct token, and
numpy), so routing never imports scikit-learn. The vocabulary and IDF weights are fitted at
training time and stored in the router file.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import get_args

import numpy as np
import numpy.typing as npt

from modelmuxer.analysis.features import QueryFeatures, TaskType

__all__ = ["DENSE_NAMES", "TextFeaturizer", "dense_features", "token_counts"]

_PUNCTUATION = string.punctuation
#: Long prompts are read at the head and the tail only (the ask is usually at one end); this
#: bounds the routing cost of a long prompt.
_HEAD, _TAIL = 1500, 700
_TASKS: tuple[str, ...] = get_args(TaskType)
DENSE_NAMES: tuple[str, ...] = (
    "bias",
    "log_prompt_tokens",
    "log_lines",
    "complexity",
    "code",
    "math",
    "reasoning",
    "english",
    *(f"task_{t}" for t in _TASKS),
)


def _window(text: str) -> str:
    """``text``, or its head and tail when it is long."""
    if len(text) > _HEAD + _TAIL:
        return text[:_HEAD] + "\n" + text[-_TAIL:]
    return text


def token_counts(text: str) -> Counter[str]:
    """How often each token occurs in ``text`` (its head and tail if long).

    Tokens are the lower-cased whitespace-separated words stripped of surrounding punctuation,
    and the punctuation marks stripped from them, each counted on its own. Splitting on
    whitespace first (in C) and handling each distinct word once is several times faster than
    a tokenising regex, which matters on the routing path.
    """
    counts: Counter[str] = Counter()
    for word, n in Counter(_window(text).lower().split()).items():
        core = word.strip(_PUNCTUATION)
        if core:
            counts[core] += n
        if len(core) != len(word):
            for ch in word:
                if ch in _PUNCTUATION:
                    counts[ch] += n
    return counts


def dense_features(text: str, features: QueryFeatures) -> list[float]:
    """The dense features (:data:`DENSE_NAMES`), each roughly in [0, 1]."""
    task = features.task_type
    return [
        1.0,
        math.log1p(features.prompt_tokens) / 8.0,
        math.log1p(text.count("\n")) / 5.0,
        features.complexity,
        features.code,
        features.math,
        features.reasoning,
        1.0 if features.language == "en" else 0.0,
        *(1.0 if task == t else 0.0 for t in _TASKS),
    ]


class TextFeaturizer:
    """Maps a prompt to ``(indices, values)`` of its sparse feature vector.

    Columns ``0 .. len(DENSE_NAMES) - 1`` are the dense features; then one column per
    vocabulary token with value ``log(1 + count) * idf``; the token part is L2-normalised.
    """

    def __init__(self, vocabulary: Sequence[str], idf: Sequence[float]) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError("vocabulary and idf must have the same length")
        offset = len(DENSE_NAMES)
        self.vocabulary = tuple(vocabulary)
        self._columns = {tok: offset + i for i, tok in enumerate(self.vocabulary)}
        self.idf = [float(x) for x in idf]
        self.width = offset + len(self.vocabulary)

    @classmethod
    def fit(
        cls, texts: Iterable[str], *, max_tokens: int = 4000, min_df: int = 3
    ) -> TextFeaturizer:
        """A vocabulary of the ``max_tokens`` tokens found in most texts (at least ``min_df``)."""
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            df.update(token_counts(text).keys())
            n += 1
        common = [(tok, c) for tok, c in df.most_common() if c >= min_df][:max_tokens]
        common.sort()
        vocabulary = [tok for tok, _ in common]
        idf = [math.log((1 + n) / (1 + c)) + 1.0 for _, c in common]
        return cls(vocabulary, idf)

    def sparse(
        self, text: str, features: QueryFeatures
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The feature vector of ``text`` as column indices and values.

        The same tokens as :func:`token_counts`, looked up as they are found: this runs on
        every routed request, so it avoids building a second counter of tokens.
        """
        get = self._columns.get
        found: dict[int, int] = {}
        for word, n in Counter(_window(text).lower().split()).items():
            core = word.strip(_PUNCTUATION)
            col = get(core)
            if col is not None:
                found[col] = found.get(col, 0) + n
            if len(core) != len(word):
                for ch in word:
                    if ch in _PUNCTUATION:
                        col = get(ch)
                        if col is not None:
                            found[col] = found.get(col, 0) + n
        offset = len(DENSE_NAMES)
        idf = self.idf
        idx = [*range(offset), *found]
        vals = dense_features(text, features)
        tfidf = [math.log1p(n) * idf[col - offset] for col, n in found.items()]
        norm = math.sqrt(sum(v * v for v in tfidf))
        if norm > 0.0:
            vals.extend(v / norm for v in tfidf)
        else:
            vals.extend(tfidf)
        return np.asarray(idx, dtype=np.intp), np.asarray(vals, dtype=np.float64)
