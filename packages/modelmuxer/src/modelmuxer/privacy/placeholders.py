"""Placeholder formats: what a redacted value is replaced by (``[EMAIL_1]`` by default).

A format is a template with ``{KIND}`` (or ``{kind}``) and ``{n}``. It is checked so that a
placeholder can always be found again without ambiguity:

- it opens and closes with delimiters that occur nowhere else in it, so a placeholder cannot
  start inside another or straddle the text around it, and none is a prefix of another;
- ``{n}`` sits between non-digit characters, so distinct (kind, n) pairs never render alike.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_PLACEHOLDER", "PlaceholderFormat"]

DEFAULT_PLACEHOLDER: Final = "[{KIND}_{n}]"
#: Characters a template's literal text may use: printable ASCII except whitespace, quotes and
#: backslashes (a placeholder must read the same inside a JSON string) and braces.
_LITERAL_OK: Final = frozenset(string.printable) - frozenset(string.whitespace + '"\\{}')
_WORDISH: Final = frozenset(string.ascii_letters + string.digits + "_")
_FIELD_PATTERNS: Final = {"n": r"[0-9]+", "KIND": r"[A-Z][A-Z0-9_]*", "kind": r"[a-z][a-z0-9_]*"}


class PlaceholderFormat:
    """A checked placeholder template; raises ``ValueError`` saying what to fix."""

    __slots__ = ("_kind_field", "_pattern", "opener", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        tokens = _tokens(template)
        _check(template, tokens)
        self._kind_field = "KIND" if ("field", "KIND") in tokens else "kind"
        self.opener = template[0]
        self._pattern = re.compile(
            "".join(_FIELD_PATTERNS[v] if t == "field" else re.escape(v) for t, v in tokens)
        )

    def render(self, kind: str, n: int) -> str:
        """The placeholder of the ``n``-th value of ``kind``."""
        label = kind.upper() if self._kind_field == "KIND" else kind
        return self.template.format_map({self._kind_field: label, "n": n})

    def sub(self, replace: Callable[[str], str], text: str) -> str:
        """``text`` with each placeholder-shaped string ``p`` replaced by ``replace(p)``."""
        return self._pattern.sub(lambda m: replace(m.group()), text)

    def lookalikes(self, text: str) -> set[str]:
        """Every string in ``text`` shaped like a placeholder of this format."""
        if self.opener not in text:
            return set()
        return set(self._pattern.findall(text))

    def __repr__(self) -> str:
        return f"PlaceholderFormat({self.template!r})"


def _tokens(template: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"placeholder {template!r}: {exc}") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            tokens.append(("lit", literal))
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {template!r}: no format spec or conversion")
        tokens.append(("field", field))
    return tokens


def _check(template: str, tokens: list[tuple[str, str]]) -> None:
    where = f"placeholder {template!r}"
    fields = sorted(v for t, v in tokens if t == "field")
    if fields not in (["KIND", "n"], ["kind", "n"]):
        raise ValueError(f"{where}: use {{n}} once and {{KIND}} or {{kind}} once, nothing else")
    if len(template) > 40:
        raise ValueError(f"{where}: at most 40 characters")
    literal = "".join(v for t, v in tokens if t == "lit")
    bad = sorted(set(literal) - _LITERAL_OK)
    if bad:
        raise ValueError(
            f"{where}: printable ASCII only, no whitespace, quotes, backslashes or braces ({bad!r})"
        )
    first, last = tokens[0], tokens[-1]
    if first[0] != "lit" or first[1][0] in _WORDISH:
        raise ValueError(f"{where}: must open with a delimiter such as '[' or '<'")
    if last[0] != "lit" or last[1][-1] in _WORDISH:
        raise ValueError(f"{where}: must close with a delimiter such as ']' or '>'")
    for delimiter in (template[0], template[-1]):
        if literal.count(delimiter) != 1:
            raise ValueError(f"{where}: {delimiter!r} must occur once, as a delimiter")
    for i, (kind, value) in enumerate(tokens):
        if kind != "field":
            continue
        before, after = tokens[i - 1], tokens[i + 1]  # a literal opens and closes the template
        if before[0] != "lit" or after[0] != "lit":
            raise ValueError(f"{where}: put a character between {{KIND}} and {{n}}")
        if value == "n" and (before[1][-1].isdigit() or after[1][0].isdigit()):
            raise ValueError(f"{where}: {{n}} must not touch a digit")
