"""PII redaction: placeholders before anything leaves the process, values back in the answer.

With ``privacy.redact`` on, :class:`PrivacyGuard` scans each request with the registered
detectors (:mod:`~modelmuxer.privacy.detectors` and :mod:`~modelmuxer.privacy.credentials`
are the built-ins; Presidio or your own recognizers plug in through
``modelmuxer_register_pii_detectors``), replaces each distinct value by a placeholder
(:class:`Redactor`), and restores the answer, streamed or not (:class:`StreamRestorer`). See
``docs/security.md``.

Names load on first use (PEP 562): the settings load with ``MuxerSettings`` without compiling
the detectors' patterns, which only a muxer with redaction on needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.privacy.guard import PII_COUNTS, PrivacyGuard
    from modelmuxer.privacy.placeholders import DEFAULT_PLACEHOLDER, PlaceholderFormat
    from modelmuxer.privacy.presidio import PresidioDetector
    from modelmuxer.privacy.redaction import Redactor
    from modelmuxer.privacy.scanner import PiiScanner
    from modelmuxer.privacy.settings import PiiMode, PrivacySettings
    from modelmuxer.privacy.spans import PiiDetector, PiiSpan, RegexDetector, SpanLike
    from modelmuxer.privacy.streaming import StreamRestorer, TextRestorer

_MODULES = {
    "PII_COUNTS": "guard",
    "PrivacyGuard": "guard",
    "DEFAULT_PLACEHOLDER": "placeholders",
    "PlaceholderFormat": "placeholders",
    "PresidioDetector": "presidio",
    "Redactor": "redaction",
    "PiiScanner": "scanner",
    "PiiMode": "settings",
    "PrivacySettings": "settings",
    "PiiDetector": "spans",
    "PiiSpan": "spans",
    "RegexDetector": "spans",
    "SpanLike": "spans",
    "StreamRestorer": "streaming",
    "TextRestorer": "streaming",
}

__all__ = [
    "DEFAULT_PLACEHOLDER",
    "PII_COUNTS",
    "PiiDetector",
    "PiiMode",
    "PiiScanner",
    "PiiSpan",
    "PlaceholderFormat",
    "PresidioDetector",
    "PrivacyGuard",
    "PrivacySettings",
    "Redactor",
    "RegexDetector",
    "SpanLike",
    "StreamRestorer",
    "TextRestorer",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer.privacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer.privacy.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
