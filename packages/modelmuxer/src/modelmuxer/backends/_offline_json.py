"""JSON helpers of the offline backend: schema instances, and which tool a prompt asks for.

:func:`instance_for` builds a value valid for a JSON schema (the subset that tool parameters and
structured outputs use: types, ``properties`` / ``required``, ``items`` / ``prefixItems``,
``enum`` / ``const``, ``anyOf`` / ``oneOf`` / ``allOf``, local ``$ref``, string formats and
length limits, numeric bounds and ``multipleOf``). String and number values are taken from the
prompt, so the arguments look like an answer to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelmuxer.types import ToolSpec

__all__ = ["ValueSource", "instance_for", "pick_tool", "tool_words"]

#: Past this depth objects get only their required properties and arrays their minimum length.
#: Recursion through ``$ref`` stops earlier (see :func:`_recursive`); this is the backstop.
_FULL_DEPTH = 6
_MAX_DEPTH = 24

#: Properties that want the user's words rather than a single keyword.
_PHRASE_KEYS = frozenset(
    {"query", "q", "question", "prompt", "text", "message", "input", "search", "content", "body"}
)

_FORMAT_EXAMPLES: Mapping[str, str] = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
}

_SPLIT_NAME = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(slots=True)
class ValueSource:
    """Where generated values come from: prompt words and numbers, used in turn."""

    words: Sequence[str]
    numbers: Sequence[float | int]
    phrase: str = ""
    #: The ``$ref`` targets being built, outermost first: a property that refers back to one of
    #: them is optional-and-skipped or nulled, so a recursive schema does not unfold forever.
    expanding: list[str] = field(default_factory=list, init=False)
    _word_at: int = field(default=0, init=False)
    _number_at: int = field(default=0, init=False)

    def next_word(self) -> str | None:
        if not self.words:
            return None
        word = self.words[self._word_at % len(self.words)]
        self._word_at += 1
        return word

    def next_number(self, integral: bool) -> float | int | None:
        pool = [n for n in self.numbers if float(n).is_integer()] if integral else self.numbers
        if not pool:
            return None
        value = pool[self._number_at % len(pool)]
        self._number_at += 1
        return int(value) if integral else value


def instance_for(schema: Any, source: ValueSource) -> Any:
    """A value valid for ``schema``, filled from ``source``."""
    root = schema if isinstance(schema, Mapping) else {}
    return _value(schema, source, root, "value", 0)


def _value(schema: Any, src: ValueSource, root: Mapping[str, Any], name: str, depth: int) -> Any:
    if not isinstance(schema, Mapping):
        return src.next_word() or name  # ``true`` or a malformed schema: anything goes
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return _direct(schema, src, root, name, depth)
    src.expanding.append(ref)
    try:
        return _direct(_resolve(schema, root, depth), src, root, name, depth)
    finally:
        src.expanding.pop()


def _direct(
    schema: Mapping[str, Any], src: ValueSource, root: Mapping[str, Any], name: str, depth: int
) -> Any:
    """The value for a schema whose top-level ``$ref`` is resolved."""
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if isinstance(schema.get("allOf"), list):
        schema = _merge_all_of(schema, root, depth)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            rest = {k: v for k, v in schema.items() if k != key}
            option = _preferred(options, src, root, depth)
            return _value({**rest, **option}, src, root, name, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, src, root, depth)
    if kind == "array":
        return _array(schema, src, root, name, depth)
    if kind in ("integer", "number"):
        return _number(schema, src, integral=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, src, name)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``); siblings of $ref are kept."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#") or depth > _MAX_DEPTH:
        return schema
    target: Any = root
    for part in ref[1:].split("/"):
        if part:
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            if not isinstance(target, Mapping):
                return {}
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return _resolve(merged, root, depth + 1)


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        part = _resolve(part, root, depth + 1)
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _preferred(
    options: list[Any], src: ValueSource, root: Mapping[str, Any], depth: int
) -> Mapping[str, Any]:
    """The first option that is neither ``null`` nor recursive; ``null`` before recursion."""
    usable = [o for o in options if isinstance(o, Mapping)]
    is_null = [_resolve(o, root, depth + 1).get("type") == "null" for o in usable]
    for option, null in zip(usable, is_null, strict=True):
        if not null and not _recursive(option, src):
            return option
    for option, null in zip(usable, is_null, strict=True):
        if null:
            return option
    return usable[0] if usable else {}


def _recursive(schema: Any, src: ValueSource) -> bool:
    """True when ``schema`` (or one of its options, or its items) refers to a ref being built."""
    if not isinstance(schema, Mapping) or not src.expanding:
        return False
    if schema.get("$ref") in src.expanding:
        return True
    options = [*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())]
    if options and all(_recursive(o, src) or _only_null(o) for o in options):
        return True
    return _recursive(schema.get("items"), src)


def _only_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _kind(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list) and declared:
        return next((t for t in declared if t != "null"), "null")
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return "string"


def _object(
    schema: Mapping[str, Any], src: ValueSource, root: Mapping[str, Any], depth: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    out: dict[str, Any] = {}
    for key, sub in properties.items():
        if key in required or (depth < _FULL_DEPTH and not _recursive(sub, src)):
            out[key] = _value(sub, src, root, key, depth + 1)
    extra = schema.get("additionalProperties")
    for key in required:
        if key not in out:
            sub = extra if isinstance(extra, Mapping) else {}
            out[key] = _value(sub, src, root, key, depth + 1)
    return out


def _array(
    schema: Mapping[str, Any], src: ValueSource, root: Mapping[str, Any], name: str, depth: int
) -> list[Any]:
    prefix = schema.get("prefixItems")
    items = schema.get("items")
    if isinstance(items, list):  # draft-4 tuple form
        prefix, items = items, schema.get("additionalItems")
    prefix = prefix if isinstance(prefix, list) else []
    minimum = _int(schema.get("minItems"), 0)
    shallow = depth < _FULL_DEPTH and not _recursive(items, src)
    count = max(minimum, len(prefix), 1) if shallow else max(minimum, len(prefix))
    maximum = schema.get("maxItems")
    if isinstance(maximum, int):
        count = min(count, maximum)
    singular = name[:-1] if name.endswith("s") and len(name) > 3 else name
    return [
        _value(prefix[i] if i < len(prefix) else items, src, root, singular, depth + 1)
        for i in range(count)
    ]


def _number(schema: Mapping[str, Any], src: ValueSource, *, integral: bool) -> float | int:
    found = src.next_number(integral)
    value: float | int = 1 if found is None else found
    low, high = _bounds(schema, integral)
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        multiple = math.ceil(value / step) * step
        if high is not None and multiple > high:
            multiple = math.floor(value / step) * step
        value = multiple
    if integral:
        return int(value)
    return value


def _bounds(schema: Mapping[str, Any], integral: bool) -> tuple[float | None, float | None]:
    """Inclusive bounds, from ``minimum`` / ``maximum`` and both forms of the exclusive ones."""
    gap = 1 if integral else 1e-6
    low = _num(schema.get("minimum"))
    high = _num(schema.get("maximum"))
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True and low is not None:  # draft 4: a flag on ``minimum``
        low += gap
    elif (v := _num(ex_low)) is not None:
        low = v + gap if low is None else max(low, v + gap)
    if ex_high is True and high is not None:
        high -= gap
    elif (v := _num(ex_high)) is not None:
        high = v - gap if high is None else min(high, v - gap)
    if integral:
        low = None if low is None else math.ceil(low)
        high = None if high is None else math.floor(high)
    return low, high


def _string(schema: Mapping[str, Any], src: ValueSource, name: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES:
        value = _FORMAT_EXAMPLES[fmt]
    elif name.lower() in _PHRASE_KEYS and src.phrase:
        value = src.phrase
    else:
        value = src.next_word() or name
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        value = _matching(pattern, (value, name, "value")) or value
    low, high = _int(schema.get("minLength"), 0), schema.get("maxLength")
    for _ in range(8):  # too short: continue with the prompt's next words
        if len(value) >= low:
            break
        value = f"{value} {src.next_word() or name}"
    if len(value) < low:
        value += "x" * (low - len(value))
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


def _matching(pattern: str, candidates: Sequence[str]) -> str | None:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    return next((c for c in candidates if compiled.search(c)), None)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _normal(word: str) -> str:
    """Lower case without a plural ``s``, so "emails" matches "send_email"."""
    lower = word.lower()
    return lower[:-1] if lower.endswith("s") and len(lower) > 3 else lower


def tool_words(tool: ToolSpec) -> frozenset[str]:
    """The words of a tool's name (snake_case and camelCase split) and description."""
    function = tool.function
    words = {_normal(w) for w in _SPLIT_NAME.findall(function.name)}
    if function.description:
        words.update(_normal(w) for w in _WORD.findall(function.description))
    return frozenset(words)


def pick_tool(tools: Sequence[ToolSpec], question_words: Sequence[str]) -> ToolSpec:
    """The tool whose name and description share most words with the question; first on a tie."""
    wanted = {_normal(w) for w in question_words}
    best, best_score = tools[0], -1
    for tool in tools:
        score = len(wanted & tool_words(tool))
        if score > best_score:
            best, best_score = tool, score
    return best
