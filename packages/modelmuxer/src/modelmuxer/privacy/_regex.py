"""Running a pattern only where it can start.

A pattern that opens with a lookbehind (``(?<![\\w.])\\d...``) is tried at every position of
the text by Python's ``re``: tens of nanoseconds each, milliseconds on a long prompt. Here a
cheap trigger (a character class ``re`` skips to in C, or a substring) finds the few positions
where a match can start, and the full pattern is only tried there, with ``match`` (lookbehinds
still see the text before). Matches are the same as ``finditer``'s: leftmost, non-overlapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["matches"]


def matches(
    pattern: re.Pattern[str], trigger: re.Pattern[str], text: str
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, trying ``pattern`` only where ``trigger`` matches.

    ``trigger`` must match at every position where ``pattern`` can start, and ``pattern`` must
    never start strictly inside a trigger match (a run of digits for a pattern whose first digit may
    not follow another): the search resumes after a trigger match that led nowhere.
    """
    at, n = 0, len(text)
    while at < n:
        hit = trigger.search(text, at)
        if hit is None:
            return
        start = hit.start()
        m = pattern.match(text, start)
        if m is None or m.end() == start:
            at = max(hit.end(), start + 1)
            continue
        yield m
        at = m.end()
