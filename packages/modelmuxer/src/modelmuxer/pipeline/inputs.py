"""Turning what callers pass (strings, dicts, messages, a Request) into a validated Request."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from modelmuxer.errors import InvalidRequest
from modelmuxer.types import GenerationParams, Identity, Message, Request, RoutingOptions
from modelmuxer.types._checks import check_text
from modelmuxer.types._trusted import built
from modelmuxer.types.request import new_request_id

__all__ = ["MessagesLike", "build_request", "invalid_from_validation"]

MessagesLike = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]]

_PARAM_FIELDS = frozenset(GenerationParams.model_fields)
#: Labels pydantic puts in an error location for the union branch it tried ("str",
#: "list[...]", "function-after[...]"): they are not fields, so paths leave them out.
_BRANCH_LABELS = frozenset({"str", "int", "float", "bool", "bytes", "none"})

_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _defaults() -> tuple[RoutingOptions, GenerationParams, Identity]:
    """Shared (frozen) empty routing options, parameters and identity: a request without them
    takes these instead of validating an empty mapping each time. Built on first use
    (``defer_build``)."""
    return RoutingOptions(), GenerationParams(), Identity()


def _path(loc: tuple[int | str, ...]) -> list[str]:
    return [str(p) for p in loc if isinstance(p, int) or ("[" not in p and p not in _BRANCH_LABELS)]


def invalid_from_validation(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    """An :class:`InvalidRequest` naming the offending field of a pydantic error.

    Of several errors, the one deepest in the input is reported: for a union (message content
    is a string or a list of parts) it is the branch that got furthest, the most telling one.
    """
    errors = exc.errors()
    paths = [_path(err["loc"]) for err in errors]
    # of equally deep ones, a value error: its message is ours, it says what to fix
    deepest = max(
        range(len(errors)), key=lambda i: (len(paths[i]), errors[i]["type"] == "value_error")
    )
    path = ".".join(paths[deepest])
    field = ".".join(p for p in (prefix, path) if p) or None
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return InvalidRequest(f"{errors[deepest]['msg']}{more}", field=field)


def _validate(model: type[_M], value: object, field: str) -> _M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_from_validation(exc, field) from None


def _messages(messages: MessagesLike) -> list[Message] | list[Any]:
    if isinstance(messages, str):
        if not messages.strip():
            raise InvalidRequest("the prompt is empty", field="messages")
        # validated with the request, so that an error names messages.0.content
        return [{"role": "user", "content": messages}]
    if isinstance(messages, Message | Mapping):
        return [messages]
    if not isinstance(messages, Sequence):
        raise InvalidRequest(
            f"expected a string, a message or a list of messages, got {type(messages).__name__}",
            field="messages",
        )
    if not messages:
        raise InvalidRequest("at least one message is needed", field="messages")
    return list(messages)


def build_request(
    messages: MessagesLike | Request,
    *,
    strategy: str | None = None,
    model: str | None = None,
    identity: Identity | Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    routing: RoutingOptions | Mapping[str, Any] | None = None,
    request_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Request:
    """A validated :class:`Request`; raises :class:`InvalidRequest` naming the bad field.

    ``params`` are generation parameters (``temperature``, ``max_tokens``, ``tools``...). When
    ``messages`` is already a Request, the other arguments override its fields.
    """
    params = _mapping(params, "params") or {}
    unknown = sorted(set(params) - _PARAM_FIELDS, key=str)
    if unknown:
        raise InvalidRequest(
            f"unknown parameter(s) {unknown}; generation parameters are: "
            f"{', '.join(sorted(_PARAM_FIELDS))}",
            field=str(unknown[0]),
        )
    tag_list = _tags(tags)
    metadata = _mapping(metadata, "metadata")
    try:
        if isinstance(messages, Request):
            return _override(
                messages, strategy, model, identity, tag_list, metadata, routing, params, request_id
            )
        route = _pin(
            _validate(RoutingOptions, routing, "routing") if routing else _defaults()[0],
            strategy,
            model,
        )
        plain = _plain_request(messages, params, identity, tag_list, metadata, route, request_id)
        if plain is not None:
            return plain
        fields: dict[str, Any] = {
            "messages": _messages(messages),
            "params": params or _defaults()[1],
            "identity": identity or {},
            "tags": tag_list or (),
            "metadata": dict(metadata or {}),
            "routing": route,
        }
        if request_id is not None:
            fields["request_id"] = request_id
        return Request.model_validate(fields)
    except ValidationError as exc:
        raise invalid_from_validation(exc) from None


# -- plain text requests, built without pydantic's walk ------------------------------------------
#
# Most requests are a few text messages and nothing else the model validation would change: for
# those, the request is put together from objects already of their declared types (as
# ``model_construct`` would, without its walk over defaults): what validation would check is
# checked here, by hand, and anything else takes the validating path, which words the errors.
# tests/core/test_plain_requests.py checks that both paths build equal requests.

_TEXT_ROLES: Final = frozenset({"system", "user", "assistant"})
_ROLE_CONTENT: Final = frozenset({"role", "content"})


def _sendable(text: object) -> bool:
    """``text`` is a non-empty ``str`` that :func:`~modelmuxer.types._checks.check_text`
    accepts (UTF-8 encodable)."""
    if type(text) is not str or not text:
        return False
    try:
        check_text(text)
    except ValueError:
        return False
    return True


def _plain_message(item: object) -> Message | None:
    """``item`` as a :class:`Message` when it is a dict of a system, user or assistant role and
    non-empty text content (and nothing else); ``None`` otherwise."""
    if type(item) is not dict or item.keys() != _ROLE_CONTENT:
        return None
    role = item["role"]
    content = item["content"]
    if type(role) is not str or role not in _TEXT_ROLES or not _sendable(content):
        return None
    fields = {
        "role": role,
        "content": content,
        "name": None,
        "tool_calls": None,
        "tool_call_id": None,
    }
    return built(Message, fields, {"role", "content"})


def _plain_messages(messages: object) -> list[Message] | None:
    if type(messages) is str:
        if not messages.strip():
            return None  # the validating path says the prompt is empty
        message = _plain_message({"role": "user", "content": messages})
        return None if message is None else [message]
    if type(messages) is not list or not messages:
        return None
    plain = []
    for item in messages:
        message = _plain_message(item)
        if message is None:
            return None
        plain.append(message)
    return plain


def _plain_request(
    messages: object,
    params: Mapping[str, Any],
    identity: Identity | Mapping[str, Any] | None,
    tags: list[Any] | None,
    metadata: Mapping[str, Any] | None,
    route: RoutingOptions,
    request_id: str | None,
) -> Request | None:
    """The request of plain text ``messages`` (see :func:`_plain_message`) built without
    validating it as a whole, or ``None`` when any part needs validation (then the caller
    validates everything, as before). Generation parameters, when given, are validated on
    their own."""
    if identity is None:
        identity = _defaults()[2]
    elif type(identity) is not Identity:
        return None
    if tags:
        if not all(_sendable(tag) for tag in tags):
            return None
        tag_set: frozenset[str] = frozenset(tags)
    else:
        tag_set = frozenset()
    if metadata is None:
        meta: dict[str, Any] = {}
    elif type(metadata) is dict and all(type(key) is str for key in metadata):
        meta = dict(metadata)
    else:
        return None
    if request_id is not None and not _sendable(request_id):
        return None
    listed = _plain_messages(messages)
    if listed is None:
        return None
    fields: dict[str, Any] = {
        "messages": listed,
        "params": _validate(GenerationParams, params, "params") if params else _defaults()[1],
        "identity": identity,
        "tags": tag_set,
        "metadata": meta,
        "routing": route,
        "request_id": new_request_id() if request_id is None else request_id,
    }
    fields_set = set(_REQUEST_FIELDS)
    if request_id is None:
        fields_set.discard("request_id")  # as validation leaves a defaulted field unset
    return built(Request, fields, fields_set)


_REQUEST_FIELDS: Final = frozenset(Request.model_fields)


def _mapping(value: Mapping[str, Any] | None, field: str) -> Mapping[str, Any] | None:
    if value is not None and type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidRequest(f"expected a mapping, got {type(value).__name__}", field=field)
    return value


def _tags(tags: Iterable[str] | None) -> list[Any] | None:
    """The tags as a list (validated with the request); one string is one tag."""
    if tags is None:
        return None
    if isinstance(tags, str):
        return [tags]  # one tag, not its characters
    try:
        return list(tags)
    except TypeError:
        raise InvalidRequest(
            f"expected a string or an iterable of strings, got {type(tags).__name__}",
            field="tags",
        ) from None


def _pin(route: RoutingOptions, strategy: str | None, model: str | None) -> RoutingOptions:
    """``route`` with the ``strategy`` / ``model`` arguments applied (validated: a copy with
    ``model_copy(update=...)`` would skip validation)."""
    pins = {k: v for k, v in (("strategy", strategy), ("model", model)) if v is not None}
    if not pins:
        return route
    return _validate(RoutingOptions, {**route.model_dump(exclude_unset=True), **pins}, "routing")


def _override(
    request: Request,
    strategy: str | None,
    model: str | None,
    identity: Identity | Mapping[str, Any] | None,
    tags: list[Any] | None,
    metadata: Mapping[str, Any] | None,
    routing: RoutingOptions | Mapping[str, Any] | None,
    params: Mapping[str, Any],
    request_id: str | None,
) -> Request:
    """``request`` with the given fields replaced; validated as a whole (messages, already
    validated, are not validated again)."""
    update: dict[str, Any] = {}
    route = request.routing
    if routing is not None:
        route = _validate(RoutingOptions, routing, "routing")
    route = _pin(route, strategy, model)
    if route is not request.routing:
        update["routing"] = route
    if identity is not None:
        update["identity"] = identity
    if tags is not None:
        update["tags"] = tags
    if metadata is not None:
        update["metadata"] = {**request.metadata, **metadata}
    if params:
        update["params"] = {**request.params.model_dump(exclude_unset=True), **params}
    if request_id is not None:
        update["request_id"] = request_id
    if not update:
        return request
    fields = {name: getattr(request, name) for name in Request.model_fields}
    return Request.model_validate({**fields, **update})
