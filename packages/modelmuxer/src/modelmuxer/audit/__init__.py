"""The audit log: one entry per request, append-only and hash-chained, in the ledger's database.

:class:`AuditLog` is the plugin that appends; :func:`~modelmuxer.audit.verify.verify_chain` (and
``modelmuxer audit verify``) walks the chain and names the first row altered, inserted or
deleted. See ``docs/security.md``.

Names load on first use (PEP 562): :class:`AuditSettings` is imported by the settings of every
muxer, and must not pull SQLAlchemy in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.audit.chain import GENESIS, entry_hash
    from modelmuxer.audit.log import AuditLog
    from modelmuxer.audit.models import AuditRow
    from modelmuxer.audit.settings import AuditSettings
    from modelmuxer.audit.verify import ChainBreak, VerifyResult, averify_chain, verify_chain

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditRow",
    "AuditSettings",
    "ChainBreak",
    "VerifyResult",
    "averify_chain",
    "entry_hash",
    "verify_chain",
]

_MODULE_OF = {
    "GENESIS": "chain",
    "entry_hash": "chain",
    "AuditLog": "log",
    "AuditRow": "models",
    "AuditSettings": "settings",
    "ChainBreak": "verify",
    "VerifyResult": "verify",
    "averify_chain": "verify",
    "verify_chain": "verify",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer.audit.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
