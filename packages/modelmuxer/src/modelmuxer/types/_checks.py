"""Checks shared by the request types: text that can be sent, JSON trees that can be encoded.

A request's strings and its free-form JSON parts (``response_format``, ``tool_choice``, tool
parameter schemas) go to a provider as UTF-8 JSON and into cache keys and ledger rows. What
cannot be encoded there is refused when the request is built, with an error naming the field,
rather than failing later as a provider error, a crash in a cache lookup or a lost record.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import AfterValidator

__all__ = ["MAX_JSON_DEPTH", "JsonObject", "Text", "check_json_tree", "check_text"]

#: Deepest nesting accepted in a JSON part (real schemas stay far below it).
MAX_JSON_DEPTH: Final = 64
#: Longest integer accepted in a JSON part. Python refuses to print integers of more than
#: 4300 digits (so ``json.dumps`` fails on them); no provider takes anything near this.
_MAX_INT_DIGITS: Final = 1000
_MAX_INT_BITS: Final = 3322  # 2**3322 is about 10**1000


def check_text(value: str) -> str:
    """``value``, or ``ValueError`` when it holds a lone surrogate (not encodable as UTF-8)."""
    if value.isascii():  # the common case, and O(1) for ASCII strings
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the text holds an unpaired surrogate (U+{ord(value[exc.start]):04X}) at "
            f"position {exc.start}: it is not valid Unicode; decode the input with "
            "errors='replace' or fix its source"
        ) from None
    return value


#: A string that can be encoded as UTF-8.
Text = Annotated[str, AfterValidator(check_text)]


def _walk(value: Any, depth: int, path: list[int]) -> None:
    if isinstance(value, str):
        check_text(value)
        return
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ValueError(
            f"an integer of more than {_MAX_INT_DIGITS} digits: it cannot be sent as JSON"
        )
    if not isinstance(value, dict | list | tuple):
        return  # numbers, booleans, None; other objects are the provider SDK's business
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if id(value) in path:
        raise ValueError("it contains itself (a reference cycle): it cannot be sent as JSON")
    path.append(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"object keys must be strings (JSON), got {type(key).__name__} {key!r:.40}"
                )
            check_text(key)
            _walk(item, depth + 1, path)
    else:
        for item in value:
            _walk(item, depth + 1, path)
    path.pop()


def check_json_tree(value: Any) -> Any:
    """``value``, or ``ValueError`` when it cannot be sent as JSON: a reference cycle, nesting
    deeper than :data:`MAX_JSON_DEPTH`, a key that is not a string, an integer of more than a
    thousand digits, or text that is not valid Unicode. Leaves of other types (a schema class)
    are let through."""
    _walk(value, 0, [])
    return value


#: A JSON object (``dict[str, Any]``) that passes :func:`check_json_tree`.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_tree)]
