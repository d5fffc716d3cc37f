"""Access policies: which identities may use which models, tiers and providers, at what cost,
and where requests with PII may go.

:class:`PolicySettings` (the ``policies`` field of the settings) holds the rules;
:class:`PolicyEngine` enforces them in candidate filtering; :func:`identity_from_jwt` turns a
verified JWT into the :class:`~modelmuxer.types.Identity` the rules match on. See
``docs/security.md``.

Names load on first use (PEP 562): :class:`PolicySettings` is imported by the settings of every
muxer, and must pull in nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.policies.engine import PII_COUNTS_KEY, RULES_KEY, PolicyEngine, has_pii
    from modelmuxer.policies.jwt import identity_from_jwt
    from modelmuxer.policies.settings import (
        DEFAULT_TIERS,
        PolicyMatch,
        PolicyRule,
        PolicySettings,
    )

__all__ = [
    "DEFAULT_TIERS",
    "PII_COUNTS_KEY",
    "RULES_KEY",
    "PolicyEngine",
    "PolicyMatch",
    "PolicyRule",
    "PolicySettings",
    "has_pii",
    "identity_from_jwt",
]

_MODULE_OF = {
    "PII_COUNTS_KEY": "engine",
    "RULES_KEY": "engine",
    "PolicyEngine": "engine",
    "has_pii": "engine",
    "identity_from_jwt": "jwt",
    "DEFAULT_TIERS": "settings",
    "PolicyMatch": "settings",
    "PolicyRule": "settings",
    "PolicySettings": "settings",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer.policies' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer.policies.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
