"""TLS in transit: the cache, budgets and rate limits on a TLS-only Redis, the ledger on a
PostgreSQL that refuses plain text, and plain-text URLs refused when TLS is required.

The module generates its own CA, server certificate (for 127.0.0.1) and client
certificate with ``cryptography``, and starts private servers on free ports: a ``redis-server``
with ``--port 0 --tls-port N`` (no plain-text port at all), and a throwaway PostgreSQL cluster
with ``ssl = on`` whose ``pg_hba.conf`` admits TLS connections only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from _support import OFFLINE_MODELS, MakeMuxer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelmuxer import Muxer
from modelmuxer.config import load_settings
from modelmuxer.errors import ConfigError, RateLimited, SharedStateUnavailable
from modelmuxer.limits.redis import RedisLimitStore
from modelmuxer.transport import (
    PostgresTLS,
    RedisTLS,
    postgres_connect_args,
    postgres_url_with_tls,
    redis_connection_kwargs,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI = OFFLINE_MODELS[0]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


# -- certificates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    """PEM files: a CA, a server certificate for 127.0.0.1 (only), a client certificate
    (CN ``postgres``, the database user it authenticates), and a second, unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    ca_cert, ca_key = ca
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_certs(directory: Path) -> Certs:
    """Generate the certificates of :class:`Certs` into ``directory``."""
    ca = _ca("modelmuxer test CA")
    server_cert, server_key = _leaf("127.0.0.1", ca, ExtendedKeyUsageOID.SERVER_AUTH, server=True)
    client_cert, client_key = _leaf("postgres", ca, ExtendedKeyUsageOID.CLIENT_AUTH, server=False)
    other, _ = _ca("an unrelated CA")
    _write_key(server_key, directory / "server.key")
    _write_key(client_key, directory / "client.key")
    return Certs(
        ca=_pem(ca[0], directory / "ca.pem"),
        server_cert=_pem(server_cert, directory / "server.pem"),
        server_key=directory / "server.key",
        client_cert=_pem(client_cert, directory / "client.pem"),
        client_key=directory / "client.key",
        other_ca=_pem(other, directory / "other-ca.pem"),
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- a private TLS-only Redis --------------------------------------------------------------------


@dataclass
class TLSRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    @property
    def plain_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _start_tls_redis(certs: Certs, workdir: Path, *, auth_clients: str) -> TLSRedis:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    argv = [
        binary,
        "--port", "0",  # no plain-text port at all
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--tls-cert-file", str(certs.server_cert),
        "--tls-key-file", str(certs.server_key),
        "--tls-ca-cert-file", str(certs.ca),
        "--tls-auth-clients", auth_clients,
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    process = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(certs.ca),
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.client_key),
        socket_timeout=1.0,
    )
    try:
        for _ in range(200):
            if process.poll() is not None:
                out = process.stdout.read().decode(errors="replace") if process.stdout else ""
                if "tls" in out.lower() and ("not" in out.lower() or "bad" in out.lower()):
                    pytest.skip(f"this redis-server was built without TLS: {out.strip()[-200:]}")
                pytest.fail(f"redis-server with TLS did not start: {out.strip()[-500:]}")
            try:
                client.ping()
                break
            except (redis.ConnectionError, OSError):
                time.sleep(0.05)
        else:
            process.kill()
            pytest.fail("redis-server with TLS did not answer in 10 s")
    finally:
        client.close()
    return TLSRedis(port, process)


@pytest.fixture(scope="module")
def tls_redis(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    """A TLS-only Redis that accepts clients with or without a certificate."""
    server = _start_tls_redis(certs, tmp_path_factory.mktemp("redis"), auth_clients="optional")
    yield server
    server.process.kill()
    server.process.wait()


@pytest.fixture(scope="module")
def mtls_redis(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    """A TLS-only Redis that requires a client certificate (``--tls-auth-clients yes``)."""
    server = _start_tls_redis(certs, tmp_path_factory.mktemp("redis-m"), auth_clients="yes")
    yield server
    server.process.kill()
    server.process.wait()


def _client(server: TLSRedis, certs: Certs) -> redis.Redis:
    return redis.Redis.from_url(
        server.url,
        ssl_ca_certs=str(certs.ca),
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.client_key),
    )


def _keys(server: TLSRedis, certs: Certs, prefix: str) -> list[bytes]:
    client = _client(server, certs)
    try:
        return list(client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


# -- the components on the TLS Redis -------------------------------------------------------------


async def test_the_cache_works_over_rediss_with_the_ca_file(
    make_muxer: MakeMuxer, tls_redis: TLSRedis, certs: Certs
) -> None:
    namespace = f"mmtls-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        cache={
            "enabled": True,
            "backend": "redis",
            "redis_url": tls_redis.url,
            "namespace": namespace,
            "redis_timeout_s": 2.0,
            "semantic": True,
            "redis_vector_search": "client",
        },
        tls={"redis": {"ca_file": str(certs.ca), "required": True}},
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    first = await muxer.acomplete(
        "What is the boiling point of water at sea level?", model=MINI, temperature=0
    )
    again = await muxer.acomplete(
        "What is the boiling point of water at sea level?", model=MINI, temperature=0
    )
    similar = await muxer.acomplete(
        "what is the boiling point of water at sea level", model=MINI, temperature=0
    )
    assert (first.cache, again.cache, similar.cache) == ("miss", "exact", "semantic")
    assert again.text == first.text
    stored = _keys(tls_redis, certs, namespace)
    assert any(k.startswith(f"{namespace}:x:".encode()) for k in stored)
    assert any(k.startswith(f"{namespace}:s:".encode()) for k in stored)


def _shared_settings(url: str, prefix: str, tls: dict[str, Any]) -> Any:
    return load_settings(
        budgets={
            "backend": url,
            "namespace": f"{prefix}:budgets",
            "budgets": [{"scope": "org", "subject": "acme", "period": "day", "limit_usd": "5"}],
            "on_unavailable": "closed",
            "timeout_s": 2.0,
        },
        limits={
            "store": "redis",
            "redis_url": url,
            "key_prefix": f"{prefix}:limits",
            "limits": [{"scope": "org", "subject": "acme", "amount": 2, "window_s": 60}],
            "on_unavailable": "closed",
            "timeout_s": 2.0,
        },
        tls={"redis": tls},
    )


async def test_budgets_and_limits_work_over_rediss_with_a_client_certificate(
    make_muxer: MakeMuxer, mtls_redis: TLSRedis, certs: Certs
) -> None:
    prefix = f"mmtls-{uuid.uuid4().hex[:8]}"
    tls = {
        "ca_file": str(certs.ca),
        "cert_file": str(certs.client_cert),
        "key_file": str(certs.client_key),
        "required": True,
    }
    muxer = make_muxer(OFFLINE_MODELS, settings=_shared_settings(mtls_redis.url, prefix, tls))
    for _ in range(2):  # fail closed: an unreachable store would refuse these
        done = await muxer.acomplete("Name a prime number.", identity={"org": "acme"})
        assert done.text
    with pytest.raises(RateLimited):  # the counter lives in the TLS Redis
        await muxer.acomplete("Name a prime number.", identity={"org": "acme"})
    stored = _keys(mtls_redis, certs, "{" + prefix)
    assert any(b":budgets}" in k for k in stored)
    assert any(b":limits}" in k for k in stored)


async def test_a_server_requiring_client_certificates_refuses_a_client_without_one(
    make_muxer: MakeMuxer, mtls_redis: TLSRedis, certs: Certs
) -> None:
    prefix = f"mmtls-{uuid.uuid4().hex[:8]}"
    settings = _shared_settings(mtls_redis.url, prefix, {"ca_file": str(certs.ca)})
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    with pytest.raises(SharedStateUnavailable):  # fail closed: refused, not admitted blindly
        await muxer.acomplete("Name a prime number.", identity={"org": "acme"})


def test_a_plain_text_client_on_the_tls_port_fails_clearly(tls_redis: TLSRedis) -> None:
    store = RedisLimitStore(tls_redis.plain_url, key_prefix="mmtls-plain", timeout_s=1.0)
    with pytest.raises(redis.ConnectionError, match=r"(?i)connection|closed|reset"):
        store.client.ping()
    store.client.close()


def test_a_server_certificate_from_another_ca_is_refused(tls_redis: TLSRedis, certs: Certs) -> None:
    store = RedisLimitStore(tls_redis.url, timeout_s=1.0, tls=RedisTLS(ca_file=certs.other_ca))
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        store.client.ping()
    store.client.close()


def test_the_certificate_must_name_the_host(tls_redis: TLSRedis, certs: Certs) -> None:
    # the certificate names 127.0.0.1, not localhost (which reaches the same server)
    url = f"rediss://localhost:{tls_redis.port}/0"
    checked = RedisLimitStore(url, timeout_s=1.0, tls=RedisTLS(ca_file=certs.ca))
    with pytest.raises(redis.ConnectionError, match=r"(?i)mismatch|doesn't match|not valid for"):
        checked.client.ping()
    checked.client.close()
    unchecked = RedisLimitStore(
        url, timeout_s=1.0, tls=RedisTLS(ca_file=certs.ca, check_hostname=False)
    )
    assert unchecked.client.ping()
    unchecked.client.close()


# -- plain text refused when TLS is required -----------------------------------------------------


@pytest.mark.parametrize(
    ("section", "values", "setting"),
    [
        ("cache", {"enabled": True, "backend": "redis"}, "cache.redis_url"),
        ("limits", {"store": "redis", "limits": [{"scope": "global", "amount": 1, "window_s": 1}]},
         "limits.redis_url"),
        ("budgets", {"budgets": [{"scope": "global", "limit_usd": "1"}]}, "budgets.backend"),
    ],
)  # fmt: skip
def test_required_tls_refuses_a_plain_redis_url(
    section: str, values: dict[str, Any], setting: str
) -> None:
    url = "redis://:hunter2secret@cache.internal:6379/0"
    key = {"cache": "redis_url", "limits": "redis_url", "budgets": "backend"}[section]
    settings = load_settings(**{section: {**values, key: url}}, tls={"redis": {"required": True}})
    with pytest.raises(ConfigError) as caught:
        Muxer(list(OFFLINE_MODELS), settings=settings, load_entrypoints=False)
    message = str(caught.value)
    assert setting in message
    assert "rediss://" in message
    assert "tls.redis.required" in message
    assert "hunter2secret" not in message


def test_a_unix_socket_is_not_network_traffic_and_is_allowed() -> None:
    assert (
        redis_connection_kwargs("unix:///run/redis.sock", RedisTLS(required=True), setting="x")
        == {}
    )


def test_required_tls_refuses_plain_postgres_urls(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://mm:hunter2secret@db.internal/ledger"
    base = {"tls": {"postgres": {"required": True}}}
    ledger = {"enabled": True, "url": url, "outbox_dir": str(tmp_path / "outbox")}
    for settings in (
        load_settings(ledger=ledger, **base),
        load_settings(ledger={**ledger, "url": url + "?sslmode=prefer"}, **base),
        load_settings(
            budgets={"backend": url, "budgets": [{"scope": "global", "limit_usd": "1"}]}, **base
        ),
    ):
        with pytest.raises(ConfigError) as caught:
            Muxer(list(OFFLINE_MODELS), settings=settings, load_entrypoints=False)
        message = str(caught.value)
        assert "tls.postgres.required" in message
        assert "sslmode" in message
        assert "hunter2secret" not in message


def test_required_tls_leaves_a_sqlite_ledger_alone(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    settings = load_settings(
        ledger={
            "enabled": True,
            "url": f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
            "outbox_dir": str(tmp_path / "outbox"),
        },
        tls={"postgres": {"required": True}, "redis": {"required": True}},
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    assert muxer.complete("Say hi.").text


def test_a_missing_certificate_file_is_a_config_error_at_construction(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"tls\.redis\.ca_file .*nope\.pem.*no such file"):
        redis_connection_kwargs(
            "rediss://127.0.0.1:6380/0", RedisTLS(ca_file=missing), setting="cache.redis_url"
        )
    with pytest.raises(ConfigError, match=r"tls\.postgres\.ca_file .*nope\.pem.*no such file"):
        postgres_connect_args(
            "postgresql+asyncpg://u@h/db",
            PostgresTLS(sslmode="verify-full", root_cert=missing),
            setting="ledger url",
        )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load the CA file"):
        redis_connection_kwargs("rediss://h/0", RedisTLS(ca_file=garbage), setting="x")


def test_incoherent_tls_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="check_hostname"):
        load_settings(tls={"redis": {"cert_reqs": "none"}})
    with pytest.raises(ConfigError, match="key_file needs"):
        load_settings(tls={"postgres": {"key_file": "/k.pem"}})
    with pytest.raises(ConfigError, match="client certificate needs sslmode"):
        postgres_connect_args(
            "postgresql+asyncpg://u@h/db?sslmode=prefer",
            PostgresTLS(cert_file=Path("/c.pem")),
            setting="ledger url",
        )


# -- how the options reach the drivers -----------------------------------------------------------


def test_rediss_options_become_redis_py_arguments(certs: Certs) -> None:
    tls = RedisTLS(ca_file=certs.ca, cert_file=certs.client_cert, key_file=certs.client_key)
    kwargs = redis_connection_kwargs("rediss://127.0.0.1:6380/0", tls, setting="x")
    assert kwargs["ssl_ca_certs"] == str(certs.ca)
    assert kwargs["ssl_certfile"] == str(certs.client_cert)
    assert kwargs["ssl_keyfile"] == str(certs.client_key)
    assert kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["ssl_check_hostname"] is True
    assert redis_connection_kwargs("redis://127.0.0.1:6379/0", tls, setting="x") == {}


def test_postgres_url_parameters_become_an_ssl_context(certs: Certs) -> None:
    url = (
        f"postgresql+asyncpg://u@db.internal:5432/ledger?sslmode=verify-full"
        f"&sslrootcert={certs.ca}&application_name=mm"
    )
    target, connect = postgres_connect_args(url, None, setting="ledger url")
    assert dict(target.query) == {"application_name": "mm"}  # asyncpg takes no sslmode
    context = connect["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    # verify-ca checks the chain, not the name; require with a root certificate checks the CA
    for mode, hostname in (("verify-ca", False), ("require", False)):
        _, connect = postgres_connect_args(
            "postgresql+asyncpg://u@h/db",
            PostgresTLS(sslmode=mode, root_cert=certs.ca),
            setting="x",
        )
        assert connect["ssl"].check_hostname is hostname
        assert connect["ssl"].verify_mode == ssl.CERT_REQUIRED
    # the URL's mode wins over the settings'; asyncpg's own ssl=... is read as sslmode
    _, connect = postgres_connect_args(
        "postgresql+asyncpg://u@h/db?ssl=disable", PostgresTLS(sslmode="require"), setting="x"
    )
    assert connect == {"ssl": False}
    # no files: the mode's name, for asyncpg to apply libpq's rules
    _, connect = postgres_connect_args(
        "postgresql+asyncpg://u@h/db", PostgresTLS(sslmode="verify-full"), setting="x"
    )
    assert connect == {"ssl": "verify-full"}
    # psycopg takes libpq's parameters as they are
    _, connect = postgres_connect_args(
        "postgresql+psycopg://u@h/db", PostgresTLS(root_cert=certs.ca), setting="x"
    )
    assert connect == {"sslmode": "verify-full", "sslrootcert": str(certs.ca)}
    # SQLite: nothing to do
    _, connect = postgres_connect_args(
        "sqlite+aiosqlite:///x.db", PostgresTLS(required=True), setting="x"
    )
    assert connect == {}


# -- PostgreSQL with TLS -------------------------------------------------------------------------


class TLSCluster:
    """A throwaway PostgreSQL cluster that admits TLS connections only (``hostssl``), with
    client-certificate authentication for user ``postgres`` (``cert``)."""

    def __init__(self, certs: Certs) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mm-pg-tls-"))
        shutil.chown(self.dir, "postgres")
        self.port = _free_port()
        data = self.dir / "data"
        self._as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
        for name, source in (
            ("server.crt", certs.server_cert),
            ("server.key", certs.server_key),
            ("root.crt", certs.ca),
        ):
            shutil.copy(source, data / name)
            shutil.chown(data / name, "postgres")
        (data / "server.key").chmod(0o600)
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 cert\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_ca_file = 'root.crt'\n"
            )
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", data, "-o", options, "-l", self.dir / "log", "-w", "start"
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: object) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, argv)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_cluster(certs: Certs) -> Iterator[TLSCluster]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"needs PostgreSQL 15 binaries in {PG_BIN} and runuser")
    if os.geteuid() != 0:
        pytest.skip("starting a private PostgreSQL cluster needs root (initdb runs as postgres)")
    cluster = TLSCluster(certs)
    try:
        yield cluster
    finally:
        cluster.destroy()


def _client_tls(certs: Certs, **overrides: Any) -> PostgresTLS:
    values: dict[str, Any] = {
        "sslmode": "verify-full",
        "root_cert": certs.ca,
        "cert_file": certs.client_cert,
        "key_file": certs.client_key,
        "required": True,
    }
    values.update(overrides)
    return PostgresTLS(**values)


async def _server_sees_tls(url: str, tls: PostgresTLS) -> bool:
    from sqlalchemy import text

    from modelmuxer.ledger.engine import make_engine

    engine = make_engine(url, tls=tls)
    try:
        async with engine.connect() as conn:
            query = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return bool((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_the_ledger_writes_over_tls_with_verify_full_and_a_client_certificate(
    tls_cluster: TLSCluster, certs: Certs, make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from modelmuxer.ledger import CallRow
    from modelmuxer.ledger.engine import make_engine

    tls = _client_tls(certs)
    assert asyncio.run(_server_sees_tls(tls_cluster.url, tls))
    settings = load_settings(
        ledger={"enabled": True, "url": tls_cluster.url, "outbox_dir": str(tmp_path / "outbox")},
        tls={"postgres": tls.model_dump()},
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    request_id = muxer.complete("What is 2 + 2?").request_id
    assert muxer.ledger is not None
    assert muxer.ledger.flush()

    async def count() -> int:
        engine = make_engine(tls_cluster.url, tls=tls)
        try:
            async with engine.connect() as conn:
                query = select(func.count()).where(CallRow.__table__.c.request_id == request_id)
                return int((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(count()) >= 1


@pytest.mark.slow
def test_postgres_refuses_plain_text_and_a_foreign_ca_and_budgets_use_tls(
    tls_cluster: TLSCluster, certs: Certs
) -> None:
    # plain text: the server's pg_hba.conf rejects it (the check is the server's own)
    with pytest.raises(Exception, match=r"(?i)no encryption|pg_hba\.conf rejects"):
        asyncio.run(_server_sees_tls(tls_cluster.url, PostgresTLS(sslmode="disable")))
    # a server certificate that the configured CA did not sign: refused by the client
    with pytest.raises(Exception, match="certificate verify failed"):
        asyncio.run(_server_sees_tls(tls_cluster.url, _client_tls(certs, root_cert=certs.other_ca)))
    # no client certificate: the server wants one (cert authentication)
    with pytest.raises(Exception, match="requires a valid client certificate"):
        asyncio.run(
            _server_sees_tls(tls_cluster.url, _client_tls(certs, cert_file=None, key_file=None))
        )

    # the budget store's engine gets the same TLS
    from modelmuxer.budgets.postgres import PostgresBudgetStore
    from modelmuxer.budgets.settings import BudgetSettings
    from modelmuxer.transport import TLSSettings

    budgets = BudgetSettings(backend=tls_cluster.url, table_prefix="mmtls_budget")
    store = budgets.build_store(tls=TLSSettings(postgres=_client_tls(certs)))
    assert isinstance(store, PostgresBudgetStore)

    async def reserve() -> None:
        from decimal import Decimal

        from modelmuxer.budgets.model import Counter

        counter = Counter(f"global/total/tls-{uuid.uuid4().hex[:8]}", Decimal("1"), None)
        try:
            await store.reserve("r-tls", [counter], Decimal("0.1"), 60.0)
            (usage,) = await store.usage([counter])
            assert usage.reserved == Decimal("0.1")
        finally:
            await store.aclose()

    asyncio.run(reserve())


@pytest.mark.slow
def test_the_db_command_applies_the_settings_tls(
    tls_cluster: TLSCluster, certs: Certs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelmuxer.cli import main

    tls = _client_tls(certs)
    config = tmp_path / "modelmuxer.toml"
    config.write_text(
        f'[ledger]\nurl = "{tls_cluster.url}"\n\n'
        f'[tls.postgres]\nrequired = true\nsslmode = "verify-full"\nroot_cert = "{certs.ca}"\n'
        f'cert_file = "{certs.client_cert}"\nkey_file = "{certs.client_key}"\n'
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "at revision" in capsys.readouterr().out
    with_tls = postgres_url_with_tls(tls_cluster.url, tls, setting="ledger.url")
    assert "sslmode=verify-full" in with_tls
    assert "sslrootcert=" in with_tls
