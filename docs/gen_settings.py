"""Render the settings reference (every field of ``MuxerSettings``, nested ones included).

The documentation site builds the page ``settings-reference.md`` from this at every build
(``docs/mkdocs_hooks.py``), so it cannot go stale: a field, its type, its default and its
description all come from the pydantic models. ``python docs/gen_settings.py`` prints it.
"""

from __future__ import annotations

import enum
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from modelmuxer.config import MuxerSettings

#: A dotted name (``modelmuxer.types.cards.Deployment``), shortened to its last part.
_QUALIFIED = re.compile(r"\b(?:[A-Za-z_][\w]*\.)+([A-Za-z_]\w*)")


def _type_name(annotation: Any) -> str:
    """A readable type: ``str | None``, ``Literal['memory', 'redis']``, ``list[Budget]``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    return _QUALIFIED.sub(r"\1", text)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds directly (``X`` or ``X | None``), if any."""
    candidates = [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a list's items (``list[Budget]``), if the field is such a list."""
    if typing.get_origin(annotation) in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            return args[0]
    return None


def _default(field: Any) -> str:
    """The default as written in a config file; ``required`` when there is none."""
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, frozenset | set):
        value = sorted(value)
    if hasattr(value, "get_secret_value") and not isinstance(value, str):
        return f"`{value}`"  # a masked URL or key shows as its masked form
    # as written in JSON (the environment variables) and, but for null, in TOML
    return f"`{json.dumps(value, default=str)}`"


def _sentence(text: str) -> str:
    text = _cell(text)
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: type[BaseModel], path: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        dotted = f"{path}.{name}" if path else name
        if nested is not None and path:
            yield from _rows(nested, dotted)
            continue
        if nested is not None:
            continue  # top-level sections get a table of their own
        yield dotted, _type_name(field.annotation), _default(field), field.description or ""
        items = _item_model(field.annotation)
        if items is not None and path:
            yield from _rows(items, f"{dotted}[]")


def _table(model: type[BaseModel], path: str) -> list[str]:
    lines = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    for dotted, type_name, default, description in _rows(model, path):
        lines.append(
            f"| `{dotted}` | `{_cell(type_name)}` | {_cell(default)} | {_cell(description)} |"
        )
    return lines


def render() -> str:
    """The Markdown page."""
    lines = [
        "# Settings reference",
        "",
        "<!-- generated at build time by docs/gen_settings.py from modelmuxer.config -->",
        "",
        "Every setting of `MuxerSettings`, generated from the code at each build of this site.",
        "A top-level setting comes from code, from a TOML / JSON file, or from the environment",
        "variable `MODELMUXER_<NAME>`. A section (`cache`, `ledger`...) is one variable holding",
        'JSON, e.g. `MODELMUXER_CACHE=\'{"enabled": true, "backend": "redis"}\'`, or a table',
        "`[cache]` in the file. See [configuration](configuration.md) for how the sources combine.",
        "",
        "## Top level",
        "",
        "| setting | env | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    sections: list[tuple[str, type[BaseModel], str]] = []
    for name, field in MuxerSettings.model_fields.items():
        env = f"`MODELMUXER_{name.upper()}`"
        nested = _nested_model(field.annotation)
        items = _item_model(field.annotation)
        if nested is not None:
            sections.append((name, nested, field.description or ""))
            kind, default = "section (JSON)", f"see [`{name}`](#{name})"
        else:
            kind, default = _cell(_type_name(field.annotation)), _cell(_default(field))
            kind = f"`{kind}`"
            if items is not None:
                sections.append((name, items, f"{field.description}: each item's fields"))
        lines.append(
            f"| `{name}` | {env} | {kind} | {default} | {_cell(field.description or '')} |"
        )
    for name, model, description in sections:
        listed = _item_model(MuxerSettings.model_fields[name].annotation) is not None
        lines += [
            "",
            f"## `{name}`",
            "",
            f"{_sentence(description)} Environment: `MODELMUXER_{name.upper()}` (JSON).",
            "",
            *_table(model, f"{name}[]" if listed else name),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
