"""ModelMuxer for the LiteLLM proxy: ``litellm_settings.callbacks: modelmuxer_callback.modelmuxer``.

The callback picks the deployment of each request among the healthy deployments of the requested
model group (or of every group, for ``model: modelmuxer/auto``), and reports one record per call
to the muxer's plugins. Set ``MODELMUXER_RECORDS_FILE`` to append the records there as JSON lines
(a stand-in for the ledger), and ``MODELMUXER_AUDIT_URL`` (a SQLAlchemy URL, e.g.
``sqlite+aiosqlite:///audit.db``) to keep ModelMuxer's tamper-evident audit log of every request
(who asked, which deployment answered, at what cost; no prompt text), verified with
``modelmuxer audit verify``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelmuxer import hookimpl
from modelmuxer.audit import AuditLog, AuditSettings
from modelmuxer.types import CallRecord
from modelmuxer_litellm import ModelMuxerCallback


class JsonLinesRecords:
    """Appends every call record to a file, one JSON object a line."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        line = record.model_dump_json() + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


_plugins: list[object] = []
if _records := os.environ.get("MODELMUXER_RECORDS_FILE"):
    _plugins.append(JsonLinesRecords(_records))
if _audit := os.environ.get("MODELMUXER_AUDIT_URL"):
    _plugins.append(AuditLog(AuditSettings(enabled=True, url=_audit, flush_interval_s=0.2)))

modelmuxer = ModelMuxerCallback.for_proxy(
    strategy=os.environ.get("MODELMUXER_STRATEGY", "hybrid"), plugins=_plugins
)
