"""What ModelMuxer decided for a request, carried in the request's LiteLLM metadata.

The deployment filter writes it to ``metadata["modelmuxer"]`` as plain JSON data (LiteLLM and
the proxy log and store metadata); the deployment hooks and the logging callbacks read it back.
Retries of the same request overwrite it with the latest choice. The query features stay out of
the metadata (LiteLLM copies metadata into every logging payload: a few dozen features there cost
more CPU than routing itself); the callback keeps them in process, by request id.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from modelmuxer.types import Decision, Identity

__all__ = ["METADATA_KEY", "RoutingInfo", "request_metadata"]

#: The metadata key ModelMuxer writes its decision under.
METADATA_KEY: Final = "modelmuxer"
_METADATA_NAMES: Final = ("metadata", "litellm_metadata")


def request_metadata(kwargs: Mapping[str, Any]) -> MutableMapping[str, Any] | None:
    """The request's metadata dict (``metadata``, or ``litellm_metadata`` on some proxy routes),
    looked up in the call kwargs and in their ``litellm_params``."""
    for source in (kwargs, kwargs.get("litellm_params")):
        if not isinstance(source, Mapping):
            continue
        for name in _METADATA_NAMES:
            found = source.get(name)
            if isinstance(found, MutableMapping):
                return found
    return None


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

    @classmethod
    def of(
        cls,
        decision: Decision,
        *,
        request_id: str,
        group: str,
        identity: Identity,
        tags: frozenset[str],
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
        )

    def to_metadata(self) -> dict[str, Any]:
        """JSON data for ``metadata["modelmuxer"]``."""
        return {
            "request_id": self.request_id,
            "group": self.group,
            "deployment": self.deployment,
            "strategy": self.strategy,
            "reason": self.reason,
            "identity": self.identity.model_dump(exclude_none=True),
            "tags": sorted(self.tags),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> RoutingInfo | None:
        """The info written by :meth:`to_metadata`, or ``None`` when there is none."""
        data = metadata.get(METADATA_KEY) if metadata is not None else None
        if not isinstance(data, Mapping) or "deployment" not in data:
            return None
        return cls(
            request_id=str(data["request_id"]),
            group=str(data.get("group", "")),
            deployment=str(data["deployment"]),
            strategy=str(data.get("strategy", "")),
            reason=str(data.get("reason", "")),
            identity=Identity.model_validate(data.get("identity") or {}),
            tags=frozenset(data.get("tags") or ()),
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
