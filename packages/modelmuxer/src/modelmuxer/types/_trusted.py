"""Models put together from values already of their declared types, without pydantic's walk.

For the few objects built on every request from data the pipeline has typed itself (a plain
text request, a call record and its usage): the caller checks what validation would check and
takes the validating path for anything else. Equal to what validation builds (tests compare
both). Only where it pays: a decision's nested estimates are cheaper to validate in
pydantic-core than to check and build here in Python.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["built"]

_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__


def built(model: type[_M], fields: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance of ``model`` holding ``fields`` (every field, in declaration order, each of
    its declared type) as they are; ``fields_set``: the fields the caller gave (the others hold
    defaults), as ``model_fields_set`` reports them. What ``model_construct`` sets, without its
    walk over the defaults."""
    instance = model.__new__(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", fields_set)
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
