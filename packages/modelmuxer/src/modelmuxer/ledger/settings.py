"""The ledger's settings and its default paths.

Importing this module imports pydantic only (no SQLAlchemy): every
:class:`~modelmuxer.config.MuxerSettings` holds a :class:`LedgerSettings`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelmuxer._secrets import SecretUrl

__all__ = ["HOME_ENV", "LedgerSettings", "data_dir", "default_url"]

#: Overrides the directory that holds the default SQLite ledger and its outbox.
HOME_ENV = "MODELMUXER_HOME"


def data_dir() -> Path:
    """Where ModelMuxer keeps its data by default.

    ``$MODELMUXER_HOME`` when set; otherwise the platform's user data directory:
    ``$XDG_DATA_HOME/modelmuxer`` (default ``~/.local/share/modelmuxer``) on Linux and other
    POSIX systems, ``~/Library/Application Support/modelmuxer`` on macOS and
    ``%LOCALAPPDATA%\\modelmuxer`` on Windows.
    """
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "modelmuxer"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "modelmuxer"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "modelmuxer"


def default_url() -> str:
    """The async SQLAlchemy URL of the default ledger: ``ledger.db`` in :func:`data_dir`."""
    return f"sqlite+aiosqlite:///{data_dir() / 'ledger.db'}"


class LedgerSettings(BaseModel):
    """How the cost ledger stores its records.

    The ledger is off unless ``enabled`` is set: a :class:`~modelmuxer.Muxer` built without
    settings writes nothing to disk.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="record every model call in the ledger")
    url: SecretUrl | None = Field(
        default=None,
        description="async SQLAlchemy URL (sqlite+aiosqlite:///..., postgresql+asyncpg://...); "
        "default: ledger.db in $MODELMUXER_HOME or the platform's user data directory; its "
        "password is masked wherever the settings are shown",
    )
    outbox_dir: Path | None = Field(
        default=None,
        description="directory of the durable outbox (one per database); default: "
        "outbox/<hash of the url> beside the default ledger",
    )
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="rows per INSERT")
    flush_interval_s: float = Field(
        default=0.2, gt=0.0, le=60.0, description="longest wait before queued records are written"
    )
    retry_interval_s: float = Field(
        default=1.0, gt=0.0, le=300.0, description="wait before retrying an unreachable database"
    )
    auto_migrate: bool = Field(
        default=True, description="apply the schema migrations when the ledger starts"
    )
    store_prompts: bool = Field(
        default=False, description="keep the prompt text with each record (privacy: off)"
    )

    def resolved_url(self) -> str:
        """``url`` (the real one, password included), or the default SQLite file."""
        return default_url() if self.url is None else self.url.get_secret_value()

    def resolved_outbox_dir(self) -> Path:
        """``outbox_dir``, or a directory of the default data directory keyed by the url.

        Keyed by the url so that two ledgers writing to two databases never replay each other's
        records into the wrong one.
        """
        if self.outbox_dir is not None:
            return self.outbox_dir
        key = hashlib.sha256(self.resolved_url().encode()).hexdigest()[:16]
        return data_dir() / "outbox" / key
