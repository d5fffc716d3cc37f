"""What ModelMuxer decided for a request, carried in the request's LiteLLM metadata.

The deployment filter writes it to ``metadata["modelmuxer"]`` as plain JSON data (LiteLLM and
the proxy log and store metadata); the deployment hooks and the logging callbacks read it back.
Retries of the same request overwrite it with the latest choice. The query features stay out of
the metadata (LiteLLM copies metadata into every logging payload: a few dozen features there cost
more CPU than routing itself); the callback keeps them in process, by request id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from modelmuxer.types import Decision, Identity

__all__ = [
    "METADATA_KEY",
    "RoutingInfo",
    "RoutingMemo",
    "client_disconnected",
    "is_mapping",
    "request_metadata",
    "routed_metadata",
]

#: The metadata key ModelMuxer writes its decision under.
METADATA_KEY: Final = "modelmuxer"
_METADATA_NAMES: Final = ("metadata", "litellm_metadata")


#: whether objects of a type are mappings: LiteLLM hands over dicts and its own response objects,
#: and a dict read per check is cheaper than the ABC check (these run on every call)
_MAPPING_TYPES: dict[type, bool] = {dict: True, type(None): False}


def is_mapping(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, remembered per type (for up to 64 types)."""
    kind = type(value)
    mapping = _MAPPING_TYPES.get(kind)
    if mapping is None:
        mapping = isinstance(value, Mapping)
        if len(_MAPPING_TYPES) < 64:
            _MAPPING_TYPES[kind] = mapping
    return mapping


def request_metadata(kwargs: Mapping[str, Any]) -> MutableMapping[str, Any] | None:
    """The request's metadata dict (``metadata``, or ``litellm_metadata`` on some proxy routes),
    looked up in the call kwargs and in their ``litellm_params``."""
    for source in (kwargs, kwargs.get("litellm_params")):
        if not is_mapping(source):
            continue
        for name in _METADATA_NAMES:
            found = source.get(name)
            if type(found) is dict or isinstance(found, MutableMapping):
                return found
    return None


def _metadata_dicts(kwargs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every metadata dict of the call kwargs, in :func:`request_metadata`'s order."""
    found: list[Mapping[str, Any]] = []
    for source in (kwargs, kwargs.get("litellm_params")):
        if is_mapping(source):
            found.extend(m for name in _METADATA_NAMES if is_mapping(m := source.get(name)))
    return found


def routed_metadata(kwargs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The metadata dict of a reported call that holds ModelMuxer's decision, else
    :func:`request_metadata`'s. LiteLLM's logging kwargs may carry more than one: the proxy,
    when its client disconnects mid-stream, adds a ``metadata`` of its own beside the
    request's (in ``litellm_params``) before it reports the partial answer."""
    plain = request_metadata(kwargs)
    if plain is not None and METADATA_KEY in plain:
        return plain
    for metadata in _metadata_dicts(kwargs):
        if METADATA_KEY in metadata:
            return metadata
    return plain


def client_disconnected(kwargs: Mapping[str, Any]) -> bool:
    """Whether the LiteLLM proxy marked the call as one whose client disconnected before the
    end of its stream (it then reports the answer streamed so far as a success)."""
    return any(m.get("client_disconnected") is True for m in _metadata_dicts(kwargs))


@dataclass(frozen=True, slots=True)
class RoutingInfo:
    """ModelMuxer's choice for a request: the deployment, the strategy and why."""

    request_id: str
    group: str
    deployment: str
    strategy: str
    reason: str
    identity: Identity
    tags: frozenset[str] = frozenset()
    features: Mapping[str, object] = field(default_factory=dict)
    #: the callback that routed the request (its ``instance_id``; empty: not said)
    by: str = ""

    @classmethod
    def of(
        cls,
        decision: Decision,
        *,
        request_id: str,
        group: str,
        identity: Identity,
        tags: frozenset[str],
        by: str = "",
    ) -> RoutingInfo:
        return cls(
            request_id=request_id,
            group=group,
            deployment=decision.model,
            strategy=decision.strategy,
            reason=decision.reason,
            identity=identity,
            tags=tags,
            features=decision.features,
            by=by,
        )

    def to_metadata(self) -> dict[str, Any]:
        """JSON data for ``metadata["modelmuxer"]``: the request id, the deployment, the
        strategy and the callback that routed it. The reason, identity and tags stay in the
        process's :class:`RoutingMemo` (LiteLLM copies the metadata into every logging payload;
        the records, the response's ``_hidden_params`` and the headers carry the reason)."""
        data = {
            "request_id": self.request_id,
            "group": self.group,
            "deployment": self.deployment,
            "strategy": self.strategy,
        }
        if self.by:
            data["by"] = self.by
        return data

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> RoutingInfo | None:
        """The info written by :meth:`to_metadata`, or ``None`` when there is none."""
        data = metadata.get(METADATA_KEY) if metadata is not None else None
        if not is_mapping(data) or "deployment" not in data:
            return None
        return cls(
            request_id=str(data["request_id"]),
            group=str(data.get("group", "")),
            deployment=str(data["deployment"]),
            strategy=str(data.get("strategy", "")),
            reason=str(data.get("reason", "")),
            identity=Identity.model_validate(data.get("identity") or {}),
            tags=frozenset(data.get("tags") or ()),
            by=str(data.get("by") or ""),
        )

    def summary(self) -> dict[str, str]:
        """What the response shows (``_hidden_params["modelmuxer"]``)."""
        return {
            "request_id": self.request_id,
            "group": self.group,
            "deployment": self.deployment,
            "strategy": self.strategy,
            "reason": self.reason,
        }


class RoutingMemo:
    """The latest :class:`RoutingInfo` of recent requests, by request id, in this process.

    The hooks that run after routing (the response hook, the logging events) look the decision
    up here instead of parsing it back from the metadata, and get the query features, which
    the metadata does not carry. A request this process did not route (or forgot: the memo is
    bounded) falls back to the metadata.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._infos: OrderedDict[str, RoutingInfo] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, info: RoutingInfo) -> None:
        with self._lock:
            self._infos[info.request_id] = info
            self._infos.move_to_end(info.request_id)
            if len(self._infos) > self._size:
                self._infos.popitem(last=False)

    def lookup(
        self, metadata: Mapping[str, Any] | None, request_id: str | None = None
    ) -> RoutingInfo | None:
        """The latest decision for the request ``request_id`` (the call's ``litellm_trace_id``,
        under which the Router's requests are routed), else the one ``metadata`` names (its
        request id and deployment), or ``None``. The request id comes first: callers pass one
        metadata dict to many requests, and each choice is written into it."""
        if request_id is not None:
            found = self._infos.get(request_id)  # one dict read: no lock needed
            if found is not None:
                return found
        data = metadata.get(METADATA_KEY) if metadata is not None else None
        if not is_mapping(data) or "deployment" not in data:
            return None
        info = self._infos.get(str(data.get("request_id")))  # one dict read: no lock needed
        if info is not None and info.deployment == data["deployment"]:
            return info
        found = RoutingInfo.from_metadata(metadata)
        if found is not None and info is not None:  # an earlier choice: keep the features
            return RoutingInfo(**{**_fields(found), "features": info.features})
        return found


def _fields(info: RoutingInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in RoutingInfo.__dataclass_fields__}
