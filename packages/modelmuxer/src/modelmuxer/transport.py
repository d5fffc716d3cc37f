"""TLS in transit: to Redis (cache, budgets, rate limits) and to PostgreSQL (ledger, audit log,
budgets).

:class:`TLSSettings` is the ``tls`` field of :class:`~modelmuxer.config.MuxerSettings`: one
``redis`` part and one ``postgres`` part, used by every component that connects. Two builders
turn them into what the drivers take, and are the only places connections get their TLS:

- :func:`redis_connection_kwargs` for redis-py (sync and async clients alike);
- :func:`postgres_connect_args` for SQLAlchemy's asyncpg (an :class:`ssl.SSLContext`) and
  psycopg (libpq's ``sslmode`` and file parameters) drivers.

Whether a Redis connection uses TLS is what its URL says (``rediss://``); whether a PostgreSQL
one does is its ``sslmode`` (in the URL, else ``tls.postgres.sslmode``). With ``required`` set,
a URL that would connect in plain text is refused when the component is built, with a
:class:`~modelmuxer.errors.ConfigError` saying what to change. A SQLite file and a Unix-socket
Redis do not cross the network and are not affected.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelmuxer._secrets import redact_url
from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "PostgresTLS",
    "RedisTLS",
    "SSLMode",
    "TLSSettings",
    "postgres_connect_args",
    "postgres_url_with_tls",
    "redis_connection_kwargs",
]

_log = logging.getLogger("modelmuxer.transport")

#: libpq's ``sslmode`` values, weakest first.
SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_MODES: tuple[str, ...] = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: the modes that never fall back to plain text
_TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})
#: the URL query parameters that carry TLS options (libpq's names, and asyncpg's ``ssl``)
_URL_TLS_KEYS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey")


class RedisTLS(BaseModel):
    """TLS of every Redis connection (``tls.redis``): the response cache, budgets, limits.

    A ``rediss://`` URL connects with TLS, checked with these options; a ``redis://`` URL
    connects in plain text, which ``required`` refuses.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: bool = Field(
        default=False,
        description="refuse plain-text Redis URLs (redis://): every TCP connection must be "
        "rediss://",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that may sign the server's certificate (trusted "
        "besides the system's trust store)",
    )
    cert_file: Path | None = Field(
        default=None,
        description="client certificate (PEM), for servers that authenticate clients "
        "(tls-auth-clients yes)",
    )
    key_file: Path | None = Field(
        default=None,
        description="the client certificate's private key (PEM); default: in cert_file",
    )
    cert_reqs: Literal["required", "none"] = Field(
        default="required",
        description="check the server's certificate ('none' accepts any server: tests only)",
    )
    check_hostname: bool = Field(
        default=True, description="the server's certificate must name the URL's host"
    )

    @model_validator(mode="after")
    def _coherent(self) -> RedisTLS:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("tls.redis.key_file needs tls.redis.cert_file (the certificate)")
        if self.check_hostname and self.cert_reqs == "none":
            raise ValueError(
                "tls.redis.check_hostname needs cert_reqs 'required' (a certificate that is "
                "not checked names nothing); set check_hostname = false as well"
            )
        return self

    @property
    def configured(self) -> bool:
        """Whether any option differs from the defaults (a CA, a client certificate...)."""
        return self != RedisTLS(required=self.required)


class PostgresTLS(BaseModel):
    """TLS of every PostgreSQL connection (``tls.postgres``): the ledger, the audit log, budgets.

    ``sslmode`` and the files are libpq's; a URL's own ``sslmode`` / ``sslrootcert`` /
    ``sslcert`` / ``sslkey`` query parameters override them for that URL (asyncpg's ``ssl``
    parameter is read as ``sslmode``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    required: bool = Field(
        default=False,
        description="refuse PostgreSQL connections that may run in plain text: the sslmode "
        "must be require, verify-ca or verify-full (SQLite files are not affected)",
    )
    sslmode: SSLMode | None = Field(
        default=None,
        description="libpq's sslmode (a URL's own sslmode wins); unset: verify-full when "
        "root_cert is set, else the driver's default (prefer: TLS when offered, unchecked)",
    )
    root_cert: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) the server's certificate is checked against "
        "(verify-ca / verify-full); unset: libpq's ~/.postgresql/root.crt, or the system's "
        "trust store when a client certificate is set",
    )
    cert_file: Path | None = Field(
        default=None, description="client certificate (PEM), for cert authentication"
    )
    key_file: Path | None = Field(
        default=None, description="the client certificate's private key (PEM)"
    )

    @model_validator(mode="after")
    def _coherent(self) -> PostgresTLS:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("tls.postgres.key_file needs tls.postgres.cert_file (the certificate)")
        return self


class TLSSettings(BaseModel):
    """The ``tls`` section of :class:`~modelmuxer.config.MuxerSettings`: one block for every
    connection of every component (a URL's own options override it for that URL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    redis: RedisTLS = Field(
        default_factory=RedisTLS,
        description="Redis: rediss:// URLs use these; 'required' refuses redis:// URLs",
    )
    postgres: PostgresTLS = Field(
        default_factory=PostgresTLS,
        description="PostgreSQL: sslmode and certificates of the ledger, audit and budget "
        "connections",
    )


# -- Redis ---------------------------------------------------------------------------------------


def _context(
    setting: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (else the system's trust store), with the client
    certificate loaded; a missing or unreadable file is a :class:`ConfigError` naming the
    setting (not a failure at the first connection)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is None:
        context.load_default_certs()
    for name, path in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file)):
        if path is not None and not path.expanduser().is_file():
            raise ConfigError(f"{setting}.{name} {str(path)!r}: no such file")
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file.expanduser()))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{setting}: cannot load the CA file {str(ca_file)!r}: {exc}") from None
    try:
        if cert_file is not None:
            key = None if key_file is None else str(key_file.expanduser())
            context.load_cert_chain(str(cert_file.expanduser()), key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{setting}: cannot load the client certificate {str(cert_file)!r} and its key: {exc}"
        ) from None
    return context


def redis_connection_kwargs(url: str, tls: RedisTLS | None, *, setting: str) -> dict[str, Any]:
    """The keyword arguments redis-py's ``Redis.from_url(url, ...)`` needs for ``tls``.

    ``rediss://``: the ``ssl_*`` options (the CA, the client certificate, the checks), after
    loading the files once to fail here rather than at the first connection. ``redis://``:
    none. ``setting`` names the URL's setting in errors (``cache.redis_url``).

    :raises ConfigError: ``tls.required`` and a plain-text ``redis://`` URL, or a certificate
        file that is missing or unreadable.
    """
    tls = tls if tls is not None else RedisTLS()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "unix":  # a local socket: nothing crosses the network
        return {}
    if scheme != "rediss":
        if tls.required:
            raise ConfigError(
                f"{setting} {redact_url(url)!r} connects in plain text but tls.redis.required "
                "is set: use a rediss:// URL (TLS) for this Redis, or unset tls.redis.required"
            )
        if tls.configured:
            _log.warning(
                "%s is a plain redis:// URL: the tls.redis options do not apply to it; use "
                "rediss:// to connect with TLS",
                setting,
            )
        return {}
    prefix = "tls.redis"
    _context(prefix, tls.ca_file, tls.cert_file, tls.key_file)  # fail early on a bad file
    kwargs: dict[str, Any] = {
        "ssl_cert_reqs": tls.cert_reqs,
        "ssl_check_hostname": tls.check_hostname,
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
    }
    if tls.ca_file is not None:
        kwargs["ssl_ca_certs"] = str(tls.ca_file.expanduser())
    if tls.cert_file is not None:
        kwargs["ssl_certfile"] = str(tls.cert_file.expanduser())
    if tls.key_file is not None:
        kwargs["ssl_keyfile"] = str(tls.key_file.expanduser())
    return kwargs


# -- PostgreSQL ----------------------------------------------------------------------------------


def _url_mode(value: str, setting: str) -> str:
    mode = value.strip().lower()
    aliases = {"true": "require", "false": "disable"}  # asyncpg's ssl=true / ssl=false
    mode = aliases.get(mode, mode)
    if mode not in _MODES:
        raise ConfigError(f"{setting}: sslmode {value!r} is not one of {', '.join(_MODES)}")
    return mode


def _resolve(
    parsed: URL, tls: PostgresTLS, setting: str
) -> tuple[str | None, Path | None, Path | None, Path | None]:
    """The sslmode, root certificate, client certificate and key of a PostgreSQL URL: the
    URL's query parameters, else ``tls``; checked against ``tls.required``."""
    query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    raw_mode = query.get("sslmode") or query.get("ssl")
    root = Path(query["sslrootcert"]) if "sslrootcert" in query else tls.root_cert
    cert = Path(query["sslcert"]) if "sslcert" in query else tls.cert_file
    key = Path(query["sslkey"]) if "sslkey" in query else tls.key_file
    if raw_mode is not None:
        mode: str | None = _url_mode(raw_mode, setting)
    elif tls.sslmode is not None:
        mode = tls.sslmode
    else:
        mode = "verify-full" if root is not None else None
    if tls.required and mode not in _TLS_MODES:
        said = "no sslmode" if mode is None else f"sslmode={mode}"
        raise ConfigError(
            f"{setting} {redact_url(parsed.render_as_string(hide_password=False))!r} may "
            f"connect in plain text ({said}) but tls.postgres.required is set: set "
            "tls.postgres.sslmode = 'verify-full' and tls.postgres.root_cert (or add "
            "?sslmode=verify-full&sslrootcert=/path/to/ca.pem to the URL), or unset "
            "tls.postgres.required"
        )
    if cert is not None and mode not in _TLS_MODES:
        raise ConfigError(
            f"{setting}: a client certificate needs sslmode require, verify-ca or verify-full "
            f"(here: {mode or 'none'})"
        )
    return mode, root, cert, key


def postgres_connect_args(
    url: str | URL, tls: PostgresTLS | None, *, setting: str
) -> tuple[URL, dict[str, Any]]:
    """The URL without its TLS query parameters, and the ``connect_args`` carrying them, for
    ``create_async_engine`` (SQLAlchemy is imported here).

    The URL's ``sslmode`` (or asyncpg's ``ssl``), ``sslrootcert``, ``sslcert`` and ``sslkey``
    win over ``tls``. asyncpg gets ``ssl``: ``False`` for ``disable``; an
    :class:`ssl.SSLContext` when certificate files are given (TLS mandatory, the CA and the
    host checked as the mode says); else the mode's name (asyncpg then follows libpq: its
    ``PGSSLROOTCERT`` and ``~/.postgresql`` files). psycopg gets libpq's parameters. A SQLite
    URL comes back unchanged.

    :raises ConfigError: ``tls.required`` and a mode that may connect in plain text; a mode
        with client certificates that may skip TLS; an unreadable certificate file.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed, {}
    mode, root, cert, key = _resolve(parsed, tls if tls is not None else PostgresTLS(), setting)
    stripped = parsed.difference_update_query(_URL_TLS_KEYS)
    if mode is None:
        return stripped, {}
    if parsed.get_driver_name() == "psycopg":
        libpq = {"sslmode": mode, "sslrootcert": root, "sslcert": cert, "sslkey": key}
        return stripped, {k: str(v) for k, v in libpq.items() if v is not None}
    return stripped, {"ssl": _asyncpg_ssl(mode, root, cert, key)}


def postgres_url_with_tls(url: str, tls: PostgresTLS | None, *, setting: str) -> str:
    """``url`` with ``tls`` written into its query as libpq's parameters (``sslmode``,
    ``sslrootcert``, ``sslcert``, ``sslkey``; the URL's own win), for code that takes a bare
    URL (the command-line tools): :func:`postgres_connect_args` reads them back.

    :raises ConfigError: as :func:`postgres_connect_args`.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or tls is None:
        return url
    mode, root, cert, key = _resolve(parsed, tls, setting)
    params = {"sslmode": mode, "sslrootcert": root, "sslcert": cert, "sslkey": key}
    found = {k: str(v) for k, v in params.items() if v is not None}
    if not found:
        return url
    merged = parsed.difference_update_query(_URL_TLS_KEYS).update_query_dict(found)
    return merged.render_as_string(hide_password=False)


def _asyncpg_ssl(
    mode: str, root: Path | None, cert: Path | None, key: Path | None
) -> ssl.SSLContext | str | bool:
    if mode == "disable":
        return False
    if mode not in _TLS_MODES or (root is None and cert is None):
        return mode  # asyncpg applies libpq's rules (and its default files)
    context = _context("tls.postgres", root, cert, key)
    # libpq: "require" checks the CA only when a root certificate is given
    verify = mode != "require" or root is not None
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
