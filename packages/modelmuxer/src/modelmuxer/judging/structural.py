"""The default cascade judge: structural signals that an answer is unusable.

It never calls a model, so it is fast and free, and it only catches answers that are broken in
form: empty, refused, cut off, malformed JSON, malformed or missing tool calls. Register a
smarter judge (an LLM grader, unit tests for code) through ``modelmuxer_judge`` to catch wrong
answers; it runs before this one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from modelmuxer.backends.base import ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import Request, ToolCall, ToolChoice, ToolSpec

__all__ = ["modelmuxer_judge", "structural_score"]

_CANT = r"(?:can(?:no|['’])t|cannot|am\s+(?:not\s+able|unable)|won['’]t|will\s+not|must\s+decline)"
_ACTS = r"(?:help|assist|comply|fulfil|provide|do\s+that)"
#: Refusal openings: an apology followed by "I can't", "I can't help / assist ...", "As an AI
#: (language model), I cannot ...". Anchored at the start so a refusal quoted mid-answer is fine.
_REFUSAL = re.compile(
    rf"""\s*(?:
        (?:i(?:\s+am|['’]m)\s+)?sorry[,.!]?\s*(?:but\s+)?i\s+{_CANT}
      | i\s+apologi[sz]e[,.!]?\s*(?:but\s+)?i\s+{_CANT}
      | (?:unfortunately,?\s+)?i\s+{_CANT}\s+(?:to\s+)?{_ACTS}
      | as\s+an\s+ai(?:\s+language\s+model|\s+assistant)?,?\s+i\s+{_CANT}
    )""",
    re.IGNORECASE | re.VERBOSE,
)
#: A refusal shows in its first sentence; don't scan long answers.
_REFUSAL_WINDOW = 200

_EMPTY = 0.0
_MALFORMED = 0.0
_REFUSED = 0.1
_MISSING_TOOL_CALL = 0.2
_TRUNCATED = 0.3
_OK = 1.0


def structural_score(request: Request, response: ModelResponse) -> float:
    """Score ``response`` to ``request`` in [0, 1] from its structure alone.

    - 0.0: empty answer without tool calls; JSON was asked for (``response_format``) and the
      text does not parse (as an object, for ``json_object``), or misses a top-level key the
      ``json_schema`` requires; a tool call whose arguments are not a JSON object or that
      names a tool not offered.
    - 0.1: a refusal ("I'm sorry, but I can't ...", "As an AI language model, I cannot ...") or
      an answer stopped by the provider's content filter.
    - 0.2: tools were offered with ``tool_choice`` "required" (or a named function) and the
      answer does not call one (the named one).
    - 0.3: the answer was cut off (``finish_reason`` "length").
    - 1.0: otherwise.

    The lowest applicable score wins.
    """
    text = response.text
    calls = response.tool_calls
    params = request.params
    if not calls and (not text or text.isspace()):
        return _EMPTY
    if calls and not _tool_calls_valid(calls, params.tools):
        return _MALFORMED
    if params.wants_json and not calls and not _json_valid(text, params.response_format or {}):
        return _MALFORMED
    if response.finish_reason == "content_filter":
        return _REFUSED
    if not calls and _REFUSAL.match(text, 0, _REFUSAL_WINDOW):
        return _REFUSED
    if params.tools and _missing_required_call(params.tool_choice, calls):
        return _MISSING_TOOL_CALL
    if response.finish_reason == "length":
        return _TRUNCATED
    return _OK


def _tool_calls_valid(calls: Sequence[ToolCall], tools: Sequence[ToolSpec] | None) -> bool:
    offered = {tool.function.name for tool in tools or ()}
    for call in calls:
        if call.function.name not in offered:
            return False
        try:
            call.function.parsed_arguments()
        except ValueError:  # json.JSONDecodeError is a ValueError
            return False
    return True


def _json_valid(text: str, response_format: dict[str, Any]) -> bool:
    """The text parses as JSON: an object with the required top-level keys when a schema says so."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if response_format.get("type") != "json_schema":
        return isinstance(value, dict)  # json_object mode promises an object
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema", spec) if isinstance(spec, dict) else {}
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return True
    required = schema.get("required") or ()
    return isinstance(value, dict) and all(key in value for key in required)


def _missing_required_call(choice: ToolChoice | None, calls: Sequence[ToolCall]) -> bool:
    if choice == "required":
        return not calls
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name is None:
            return not calls
        return not any(call.function.name == name for call in calls)
    return False


@hookimpl(trylast=True)
def modelmuxer_judge(ctx: RequestContext, call: ModelCall, response: ModelResponse) -> float:
    """The built-in judge: :func:`structural_score` of the answer to the request the model saw."""
    return structural_score(call.request, response)
