"""The cost ledger: every model call recorded, exactly and durably; spend reports over it.

:class:`CostLedger` is the plugin that records; :mod:`modelmuxer.ledger.reports` reads
(:func:`~modelmuxer.ledger.reports.spend_report`); ``modelmuxer db upgrade`` /
:func:`~modelmuxer.ledger.migrate.upgrade` apply the schema.

Names load on first use (PEP 562): :class:`LedgerSettings` is imported by the settings of every
muxer, and must not pull SQLAlchemy in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmuxer.ledger.errors import (
        InvalidFeedback,
        LedgerError,
        LedgerUnavailable,
        UnknownRequest,
    )
    from modelmuxer.ledger.ledger import CostLedger
    from modelmuxer.ledger.models import USD_QUANTUM, CallRow, FeedbackRow, to_usd
    from modelmuxer.ledger.reports import SpendReport, spend_report
    from modelmuxer.ledger.settings import LedgerSettings, data_dir, default_url
    from modelmuxer.ledger.store import TrainingRow

__all__ = [
    "USD_QUANTUM",
    "CallRow",
    "CostLedger",
    "FeedbackRow",
    "InvalidFeedback",
    "LedgerError",
    "LedgerSettings",
    "LedgerUnavailable",
    "SpendReport",
    "TrainingRow",
    "UnknownRequest",
    "data_dir",
    "default_url",
    "spend_report",
    "to_usd",
]

_MODULE_OF = {
    "InvalidFeedback": "errors",
    "LedgerError": "errors",
    "LedgerUnavailable": "errors",
    "UnknownRequest": "errors",
    "CostLedger": "ledger",
    "USD_QUANTUM": "models",
    "CallRow": "models",
    "FeedbackRow": "models",
    "to_usd": "models",
    "SpendReport": "reports",
    "spend_report": "reports",
    "LedgerSettings": "settings",
    "data_dir": "settings",
    "default_url": "settings",
    "TrainingRow": "store",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmuxer.ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelmuxer.ledger.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
