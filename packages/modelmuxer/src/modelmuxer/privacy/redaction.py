"""One request's redaction: :class:`Redactor`, the placeholders and the values they stand for.

Each distinct value gets its own placeholder (the same value, the same placeholder, everywhere
in the request); placeholders are numbered per kind in order of appearance, skipping any that
the request's own text already contains, so a string that merely looks like a placeholder is
never taken for one. Numbering depends only on the request, not on chance, so an identical
redacted request hits the response cache, and the cached answer (which holds placeholders,
never values) is restored with the values of the request that asks.

The mapping lives in memory for one request: it is never logged (its ``repr`` shows counts
only), and copying, pickling or serialising it raises
:class:`~modelmuxer.errors.SensitiveDataError`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from modelmuxer.errors import SensitiveDataError
from modelmuxer.privacy.placeholders import PlaceholderFormat
from modelmuxer.privacy.spans import PiiSpan

if TYPE_CHECKING:
    from modelmuxer.types import Completion

__all__ = ["Redactor"]


class Redactor:
    """The placeholders of one request and the values they stand for.

    ``taken`` are the placeholder-shaped strings already present in the request's text: they
    are never handed out. Fill it with :meth:`redact`, then put values back with
    :meth:`restore` (plain text), :meth:`restore_json` (inside JSON strings, e.g. tool-call
    arguments) or a :class:`~modelmuxer.privacy.StreamRestorer`.
    """

    __slots__ = ("_by_value", "_format", "_kinds", "_next", "_prefixes", "_taken", "_values")

    def __init__(self, placeholder: PlaceholderFormat, taken: Iterable[str] = ()) -> None:
        self._format = placeholder
        self._taken = frozenset(taken)
        self._by_value: dict[str, str] = {}  # value -> placeholder
        self._values: dict[str, str] = {}  # placeholder -> value
        self._kinds: Counter[str] = Counter()
        self._next: Counter[str] = Counter()
        self._prefixes: frozenset[str] | None = None

    # -- redacting ------------------------------------------------------------------------------

    def placeholder(self, value: str, kind: str) -> str:
        """The placeholder of ``value`` (a new one, numbered within ``kind``, the first time)."""
        known = self._by_value.get(value)
        if known is not None:
            return known
        n = self._next[kind]
        while True:
            n += 1
            candidate = self._format.render(kind, n)
            if candidate not in self._taken:
                break
        self._next[kind] = n
        self._by_value[value] = candidate
        self._values[candidate] = value
        self._kinds[kind] += 1
        self._prefixes = None
        return candidate

    def redact(self, text: str, spans: Iterable[PiiSpan]) -> str:
        """``text`` with each span (non-overlapping, in order) replaced by its placeholder."""
        parts: list[str] = []
        at = 0
        for start, end, kind, _ in spans:
            parts.append(text[at:start])
            parts.append(self.placeholder(text[start:end], kind))
            at = end
        if not parts:
            return text
        parts.append(text[at:])
        return "".join(parts)

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, text: str) -> str:
        """``text`` with every placeholder of this request replaced by its value."""
        return self._sub(text, self._values.__getitem__)

    def restore_json(self, text: str) -> str:
        """Like :meth:`restore`, with each value escaped as inside a JSON string (tool-call
        arguments are JSON: a value with a quote or a newline must not break them)."""
        return self._sub(text, lambda p: json.dumps(self._values[p], ensure_ascii=False)[1:-1])

    def restore_completion(self, completion: Completion) -> Completion:
        """``completion`` with the placeholders in its text and tool-call arguments restored."""
        text = self.restore(completion.text)
        calls = [
            c.model_copy(
                update={
                    "function": c.function.model_copy(
                        update={"arguments": self.restore_json(c.function.arguments)}
                    )
                }
            )
            if self.opener in c.function.arguments
            else c
            for c in completion.tool_calls
        ]
        if text == completion.text and all(
            new is old for new, old in zip(calls, completion.tool_calls, strict=True)
        ):
            return completion
        return completion.model_copy(update={"text": text, "tool_calls": calls})

    def _sub(self, text: str, value_of: Callable[[str], str]) -> str:
        if not self._values or self._format.opener not in text:
            return text
        values = self._values
        return self._format.sub(lambda p: value_of(p) if p in values else p, text)

    def holds_back(self, tail: str) -> bool:
        """Whether ``tail`` (starting with the opener) may be the start of a placeholder."""
        prefixes = self._prefixes
        if prefixes is None:
            prefixes = frozenset(p[:i] for p in self._values for i in range(1, len(p)))
            self._prefixes = prefixes
        return tail in prefixes

    @property
    def opener(self) -> str:
        """The character every placeholder starts with (and contains once)."""
        return self._format.opener

    # -- what it holds, without the values -----------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Kind -> number of distinct values redacted (what ``ctx.state["pii_counts"]`` holds)."""
        return dict(self._kinds)

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values: {dict(sorted(self._kinds.items()))})"

    # -- it never leaves the process ------------------------------------------------------------

    def _refuse(self, *_: Any) -> NoReturn:
        raise SensitiveDataError(
            "a Redactor holds one request's PII in clear: it lives in memory for that request "
            "and is never copied, pickled or serialised"
        )

    __reduce__ = _refuse
    __reduce_ex__ = _refuse
    __getstate__ = _refuse
    __copy__ = _refuse
    __deepcopy__ = _refuse
