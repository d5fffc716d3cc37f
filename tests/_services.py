"""The real Redis and PostgreSQL servers the service tests use.

``REDIS_URL`` / ``DATABASE_URL`` (async SQLAlchemy URL) point elsewhere; the defaults are the
servers on 127.0.0.1. When a server is not reachable the test is skipped with the reason, except
under CI (``CI`` set), where a missing server is a failure: CI starts them, so a skip there would
hide a broken set-up.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

__all__ = ["postgres_url", "redis_url", "require_server"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def redis_url() -> str:
    """The Redis URL to test against; skips (fails under CI) when nothing listens there."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    require_server("Redis", url, 6379)
    return url


def postgres_url() -> str:
    """The async SQLAlchemy URL of the test database; skips (fails under CI) when unreachable."""
    url = os.environ.get("DATABASE_URL", DEFAULT_POSTGRES_URL)
    require_server("PostgreSQL", url, 5432)
    return url


def require_server(name: str, url: str, default_port: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        why = f"{name} is not reachable at {host}:{port} ({exc}); start it or set the URL"
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI starts it, so this is a broken set-up)")
    pytest.skip(why)
