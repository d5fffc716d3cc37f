"""Who is asking, and the call's tags, from a LangChain run's metadata and tags.

``config={"metadata": {"user": "u1", "org": "acme", "project": "p", "role": "admin"}}`` on any
runnable of a chain reaches the chat model's run, so budgets, limits and policies apply per end
user inside a chain. Call keyword arguments (``identity=``, ``tags=``) win over the config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["IDENTITY_KEYS", "identity_from", "tags_from"]

#: Metadata keys read as the identity.
IDENTITY_KEYS = ("user", "org", "project", "role")
#: Tags LangChain adds to child runs by itself (a step's position in a sequence, a map key...):
#: they describe the chain, not the request, so they are not request tags.
_INTERNAL_TAG_PREFIXES = ("seq:", "map:", "branch:", "condition:", "graph:", "langsmith:")


def identity_from(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The identity fields found in ``metadata`` (``None`` when there are none)."""
    if not metadata:
        return None
    found = {key: str(metadata[key]) for key in IDENTITY_KEYS if metadata.get(key) is not None}
    return found or None


def tags_from(tags: Iterable[str] | None) -> list[str]:
    """The run's own tags, without the ones LangChain adds to describe the chain."""
    if not tags:
        return []
    return [tag for tag in tags if not tag.startswith(_INTERNAL_TAG_PREFIXES)]
