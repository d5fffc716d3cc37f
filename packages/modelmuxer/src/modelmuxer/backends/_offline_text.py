"""Text helpers of the offline backend: deterministic answers, stop sequences, truncation, chunks.

Everything here is a pure function of its arguments, so the offline backend answers the same
request the same way every time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = [
    "REFUSAL",
    "chunk_text",
    "compose_answer",
    "cut_at_stop",
    "keywords",
    "numbers",
    "tool_result_answer",
    "truncate_to_tokens",
]

REFUSAL = "I'm sorry, but I can't help with that."

#: Only the start of a long prompt is read: the answer must stay cheap whatever the prompt size.
_READ_CHARS = 4000
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]*")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_SPACES = re.compile(r"\s+")
#: A stream chunk: up to three words with their trailing space, or leading whitespace alone.
_CHUNK = re.compile(r"(?:\S+\s*){1,3}|\s+")

_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just let me
    more most my no nor not now of off on once only or other our out over own please same she
    should so some such than that the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yours tell give show explain describe write find get use make need want know like
    hello hi hey thanks thank don doesn didn isn aren wasn weren won wouldn shouldn couldn
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_OPENINGS = (
    'You asked: "{snippet}".',
    "Good question about {topic}.",
    "Here is what I can tell you about {topic}.",
    "Regarding {topic}:",
)

_SENTENCES = (
    "The short answer is that {a} depends mostly on the context in which it is used.",
    "A good first step is to look at how {a} relates to {b}.",
    "In practice, {a} is usually handled step by step, checking each result before moving on.",
    "Most sources agree that {a} works best when it is kept simple.",
    "It helps to compare {a} with {b} to see where they differ.",
    "If you need more detail on {a}, consider narrowing the question.",
    "One common mistake with {a} is to skip the basics.",
    "Overall, {a} is well understood and widely documented.",
)

_GREETING = "Hello! How can I help you today?"


def keywords(text: str, limit: int = 8) -> list[str]:
    """The first ``limit`` distinct content words of ``text`` (stopwords dropped), in order."""
    seen: set[str] = set()
    found: list[str] = []
    for token in _WORD.findall(text[:_READ_CHARS]):
        word = token.split("'", 1)[0].rstrip("-")  # "what's" -> "what", "France's" -> "France"
        lower = word.lower()
        if len(word) < 3 or lower in _STOPWORDS or lower in seen:
            continue
        seen.add(lower)
        found.append(word)
        if len(found) >= limit:
            break
    return found


def numbers(text: str) -> list[float | int]:
    """The numbers written in ``text``, in order (ints stay ints)."""
    found: list[float | int] = []
    for token in _NUMBER.findall(text[:_READ_CHARS]):
        found.append(float(token) if "." in token else int(token))
    return found


def compose_answer(question: str, key: int) -> str:
    """A plausible answer to ``question``: an acknowledgement and a few sentences.

    ``key`` (a hash of the model and the request) picks the wording and the length, so different
    models answer the same question differently, and each answers it the same way every time.
    """
    words = keywords(question)
    if not words:
        return _GREETING
    first = words[0]
    second = words[1] if len(words) > 1 else "the surrounding details"
    topic = f"{first} and {words[1]}" if len(words) > 1 else first
    opening = _OPENINGS[key % len(_OPENINGS)]
    snippet = ""
    if "{snippet}" in opening:
        snippet = _SPACES.sub(" ", question[:200]).strip()
        if len(snippet) > 60:
            snippet = snippet[:57].rstrip() + "..."
    parts = [opening.format(snippet=snippet, topic=topic)]
    count = 1 + (key >> 4) % 3 + min(len(words) // 3, 2)
    start = (key >> 8) % len(_SENTENCES)
    for i in range(count):
        a = words[i % len(words)]
        b = words[(i + 1) % len(words)] if len(words) > 1 else second
        parts.append(_SENTENCES[(start + i) % len(_SENTENCES)].format(a=a, b=b))
    return " ".join(parts)


def tool_result_answer(results: Sequence[str]) -> str:
    """The answer after tool results: it reports what the tools returned."""
    cleaned = [r.strip() for r in results if r.strip()]
    if not cleaned:
        return "The tool returned no result."
    if len(cleaned) == 1:
        return f"The result is: {cleaned[0]}"
    return "The results are: " + "; ".join(cleaned)


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """``text`` up to the earliest stop sequence (excluded)."""
    if not stop:
        return text
    cut = len(text)
    for sequence in stop:
        if sequence:
            at = text.find(sequence)
            if 0 <= at < cut:
                cut = at
    return text[:cut]


def truncate_to_tokens(text: str, max_tokens: int, estimate: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` estimated at no more than ``max_tokens`` tokens.

    The cut falls on a word boundary when one is available. Assumes the estimate grows with the
    prefix (true for any sensible estimator), hence a binary search: O(log n) estimates.
    """
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if estimate(text[:mid]) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    prefix = text[:low]
    if low < len(text) and not text[low].isspace():
        space = prefix.rfind(" ")
        if space > 0:
            prefix = prefix[:space]
    return prefix.rstrip()


def chunk_text(text: str) -> list[str]:
    """``text`` in stream-sized pieces of a few words; the pieces join back to ``text``."""
    return _CHUNK.findall(text)
