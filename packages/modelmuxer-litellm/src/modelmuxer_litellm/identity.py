"""Who is asking, from a LiteLLM request: its ``user`` and ``metadata``, and the proxy's key / team.

Budgets, rate limits and ``modelmuxer_filter_candidates`` policies read
:class:`~modelmuxer.types.Identity`. On a :class:`litellm.Router` the caller sets it with
``user=`` and ``metadata={"user": ..., "org": ..., "project": ..., "role": ...}``; in the LiteLLM
proxy the key's owner, team and organisation fill what the request leaves unset:

============  ==========================================================================
``user``      ``metadata["user"]``, the request's ``user``, the proxy's end user, the key's user
``org``       ``metadata["org"]``, the key's organisation (``user_api_key_org_id``)
``project``   ``metadata["project"]`` / ``["team"]``, the key's team (``user_api_key_team_id``)
``role``      ``metadata["role"]``
============  ==========================================================================

Tags: ``metadata["tags"]``, plus ``key:<alias>`` (or ``key:<first 12 of the key hash>``) and
``team:<team alias or id>`` for a proxy key, so per-key policies and reports can tell keys apart.
A raw key (``sk-...``) is never used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from modelmuxer.types import Identity

__all__ = ["identity_from_request", "tags_from_request"]

_SOURCES: dict[str, tuple[str, ...]] = {
    "user": ("user", "$user", "user_api_key_end_user_id", "user_api_key_user_id"),
    "org": ("org", "user_api_key_org_id"),
    "project": ("project", "team", "user_api_key_team_id"),
    "role": ("role",),
}


#: every metadata key either function reads: a request whose metadata has none of them (and no
#: ``user``) is the anonymous identity with no tags, without looking further
_IDENTITY_KEYS: Final = frozenset(k for keys in _SOURCES.values() for k in keys if k != "$user")
_TAG_KEYS: Final = frozenset(
    (
        "tags",
        "user_api_key_alias",
        "user_api_key_hash",
        "user_api_key",
        "user_api_key_team_alias",
        "user_api_key_team_id",
    )
)
_ANONYMOUS: Final = Identity()
_NO_TAGS: Final[frozenset[str]] = frozenset()
#: identities by their field values: the same few callers ask again and again
_KNOWN_SIZE: Final = 1024
_known: OrderedDict[tuple[str | None, ...], Identity] = OrderedDict()
_known_lock = threading.Lock()


def _text(value: object) -> str | None:
    if value is None or isinstance(value, Mapping | list | tuple):
        return None
    text = str(value).strip()
    return text or None


def identity_from_request(metadata: Mapping[str, Any], user: object = None) -> Identity:
    """The identity of a request with this ``metadata`` and ``user`` parameter."""
    if user is None and _IDENTITY_KEYS.isdisjoint(metadata.keys()):
        return _ANONYMOUS
    found: dict[str, str] = {}
    for field, keys in _SOURCES.items():
        for key in keys:
            value = _text(user if key == "$user" else metadata.get(key))
            if value is not None:
                found[field] = value
                break
    values = tuple(found.get(field) for field in _SOURCES)
    with _known_lock:
        identity = _known.get(values)
    if identity is None:
        identity = Identity(**found)  # validated once per distinct identity
        with _known_lock:
            _known[values] = identity
            if len(_known) > _KNOWN_SIZE:
                _known.popitem(last=False)
    return identity


def _key_tag(metadata: Mapping[str, Any]) -> str | None:
    alias = _text(metadata.get("user_api_key_alias"))
    if alias is not None:
        return f"key:{alias}"
    hashed = _text(metadata.get("user_api_key_hash")) or _text(metadata.get("user_api_key"))
    if hashed is None or hashed.startswith("sk-"):
        return None
    return f"key:{hashed[:12]}"


def tags_from_request(metadata: Mapping[str, Any]) -> frozenset[str]:
    """The request's tags: ``metadata["tags"]`` and, in the proxy, its key and team."""
    if _TAG_KEYS.isdisjoint(metadata.keys()):
        return _NO_TAGS
    tags: set[str] = set()
    listed = metadata.get("tags")
    if isinstance(listed, list | tuple | set | frozenset):
        tags.update(str(tag) for tag in listed if tag is not None)
    key = _key_tag(metadata)
    if key is not None:
        tags.add(key)
    team = _text(metadata.get("user_api_key_team_alias")) or _text(
        metadata.get("user_api_key_team_id")
    )
    if team is not None:
        tags.add(f"team:{team}")
    return frozenset(tags)
