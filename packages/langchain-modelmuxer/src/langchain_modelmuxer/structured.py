"""``with_structured_output`` for :class:`~langchain_modelmuxer.ChatModelMuxer`.

Three methods, as LangChain's provider models offer them: ``function_calling`` (a forced tool
call; only tool-capable candidates are eligible), ``json_schema`` (``response_format`` with the
schema) and ``json_mode`` (``response_format={"type": "json_object"}``; the prompt must describe
the shape). The last two route only to candidates with JSON mode.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_core.output_parsers import (
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    PydanticOutputParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

__all__ = ["StructuredMethod", "structured_runnable"]

StructuredMethod = Literal["function_calling", "json_schema", "json_mode"]


def structured_runnable(
    model: Any,
    schema: Any,
    *,
    method: StructuredMethod = "function_calling",
    include_raw: bool = False,
    strict: bool | None = None,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """``model`` bound to produce ``schema`` (a pydantic class, TypedDict or JSON schema)."""
    if kwargs:
        raise ValueError(f"unsupported arguments for with_structured_output: {sorted(kwargs)}")
    if schema is None and method != "json_mode":
        raise ValueError(f"method={method!r} needs a schema")
    pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    trace = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    parser: Runnable[Any, Any]
    bound: Runnable[LanguageModelInput, Any]
    if method == "function_calling":
        tool = convert_to_openai_tool(schema, strict=strict)
        name = tool["function"]["name"]
        bound = model.bind_tools(
            [tool], tool_choice=name, strict=strict, ls_structured_output_format=trace
        )
        parser = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if pydantic
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    elif method in ("json_schema", "json_mode"):
        if method == "json_schema":
            json_schema = convert_to_json_schema(schema)
            spec: dict[str, Any] = {
                "name": json_schema.get("title", "output"),
                "schema": json_schema,
            }
            if strict is not None:
                spec["strict"] = strict
            response_format: dict[str, Any] = {"type": "json_schema", "json_schema": spec}
        else:
            response_format = {"type": "json_object"}
            trace = {"kwargs": {"method": method}, "schema": schema}
        bound = model.bind(response_format=response_format, ls_structured_output_format=trace)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
    else:
        raise ValueError(
            f"unknown method {method!r}; use 'function_calling', 'json_schema' or 'json_mode'"
        )
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    with_fallback = parsed.with_fallbacks([fallback], exception_key="parsing_error")
    return RunnableMap(raw=bound) | with_fallback
