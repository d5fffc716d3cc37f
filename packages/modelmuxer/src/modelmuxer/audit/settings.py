"""The audit log's settings: :class:`AuditSettings` (the ``audit`` field of ``MuxerSettings``).

Importing this module imports pydantic only (no SQLAlchemy): every settings object holds an
:class:`AuditSettings`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from modelmuxer._secrets import SecretUrl
from modelmuxer.errors import ConfigError
from modelmuxer.ledger.settings import data_dir, default_url

__all__ = ["DEFAULT_KEY_ENV", "AuditSettings"]

#: The environment variable read for the HMAC key when ``hmac_key`` is not set.
DEFAULT_KEY_ENV = "MODELMUXER_AUDIT_HMAC_KEY"
_MIN_KEY_BYTES = 32


class AuditSettings(BaseModel):
    """Where the audit log is kept and how its entries are chained.

    Off unless ``enabled``. The log lives in the ledger's database (table ``audit_log``,
    created by the ledger's migrations), also when the ledger itself is off.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="append one entry per request")
    url: SecretUrl | None = Field(
        default=None,
        description="async SQLAlchemy url of the database (its password is masked wherever "
        "it is shown); default: the ledger's (ledger.url, else its SQLite file)",
    )
    hmac_key: SecretStr | None = Field(
        default=None,
        description="chain entries with HMAC-SHA256 under this key (at least 32 bytes) instead "
        "of plain SHA-256: then nobody without the key can rewrite the chain unnoticed",
    )
    hmac_key_env: str | None = Field(
        default=DEFAULT_KEY_ENV,
        description="environment variable holding the HMAC key when hmac_key is not set "
        "(unset or empty variable: no key)",
    )
    store_prompts: bool = Field(
        default=False,
        description="keep the prompt text (as the model saw it, after any redaction) in each "
        "entry; off: no prompt text is ever written",
    )
    flush_interval_s: float = Field(
        default=0.2, gt=0.0, le=60.0, description="longest wait before queued entries are written"
    )
    retry_interval_s: float = Field(
        default=1.0, gt=0.0, le=300.0, description="wait before retrying an unreachable database"
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="entries per transaction")
    auto_migrate: bool = Field(
        default=True, description="apply the ledger's migrations (which create the table) at start"
    )
    spool_dir: Path | None = Field(
        default=None,
        description="where entries wait when close() finds the database down (replayed at the "
        "next start); default: audit-spool/<hash of the url> in the data directory",
    )

    def resolved_url(self, ledger_url: str | None = None) -> str:
        """``url``, else ``ledger_url`` (the ledger's), else the default SQLite file."""
        if self.url is not None:
            return self.url.get_secret_value()
        return ledger_url or default_url()

    def resolved_key(self) -> bytes | None:
        """The HMAC key (``hmac_key``, else the ``hmac_key_env`` variable), or ``None``.

        :raises ConfigError: the key is shorter than 32 bytes.
        """
        if self.hmac_key is not None:
            secret = self.hmac_key.get_secret_value()
        elif self.hmac_key_env:
            secret = os.environ.get(self.hmac_key_env, "")
        else:
            secret = ""
        if not secret:
            return None
        key = secret.encode()
        if len(key) < _MIN_KEY_BYTES:
            source = "audit.hmac_key" if self.hmac_key is not None else f"${self.hmac_key_env}"
            raise ConfigError(
                f"{source}: an HMAC key needs at least {_MIN_KEY_BYTES} bytes, this one has "
                f"{len(key)} (e.g. the output of 'openssl rand -hex 32')"
            )
        return key

    def resolved_spool_dir(self, url: str) -> Path:
        """``spool_dir``, or a directory of the data directory keyed by ``url``."""
        if self.spool_dir is not None:
            return self.spool_dir
        return data_dir() / "audit-spool" / hashlib.sha256(url.encode()).hexdigest()[:16]
