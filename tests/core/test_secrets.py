"""Secrets never leave the process: a canary API key, sent to a local server that echoes it back
in 401 and 404 answers, appears in no exception (nor its chain), log line, stdout line, record,
event, ledger or audit row, file, or repr; URL passwords and credentials in a deployment's extra
parameters are masked wherever settings and cards are shown.

The provider is a stdlib HTTP server on 127.0.0.1 that litellm reaches through the card's
``api_base``: no network, and the real litellm / OpenAI SDK code paths handle the error.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _ledger_support import afetch_rows, sqlite_settings
from _support import OFFLINE_MODELS, Recorder
from pydantic import SecretStr
from sqlalchemy import text

from modelmuxer import Muxer, hookimpl
from modelmuxer._secrets import (
    MASK,
    REDACTED,
    SecretUrl,
    env_secrets,
    error_text,
    looks_secret,
    redact_url,
    scrub_secrets,
)
from modelmuxer.budgets.settings import BudgetSettings
from modelmuxer.cache.settings import CacheSettings
from modelmuxer.catalog import Catalog, ModelSpec
from modelmuxer.config import MuxerSettings, load_settings
from modelmuxer.context import RequestContext
from modelmuxer.errors import ConfigError, ProviderError
from modelmuxer.ledger.engine import make_engine
from modelmuxer.ledger.settings import LedgerSettings
from modelmuxer.types import Deployment, ModelCard

# litellm's own pydantic models warn about ReadOnly TypedDict items when first used.
pytestmark = pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning")

MODEL = "openai/gpt-4o-mini"
#: Loggers that may see a request's headers: litellm's, the OpenAI SDK's, the HTTP clients'.
LOGGERS = ("", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "openai", "httpx", "httpcore")


# -- helpers ------------------------------------------------------------------------------------


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def assert_absent(secret: str, *places: object) -> None:
    """``secret`` occurs in none of ``places`` (their str and repr)."""
    for place in places:
        assert secret not in str(place), f"secret leaked into {type(place).__name__}"
        assert secret not in repr(place), f"secret leaked into repr of {type(place).__name__}"


def assert_error_clean(secret: str, exc: BaseException) -> None:
    """Neither ``exc``, its args, nor anything chained to it, nor its printed traceback shows
    ``secret`` (tracebacks and error trackers print chained exceptions)."""
    for link in chain(exc):
        assert_absent(secret, link, link.args)
    assert secret not in "".join(traceback.format_exception(exc))


def files_under(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def assert_no_file_holds(secret: str, root: Path) -> None:
    needle = secret.encode()
    for path in files_under(root):
        assert needle not in path.read_bytes(), f"secret written to {path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Events:
    """A plugin keeping every operational event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Mapping[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        self.seen.append((name, dict(data)))


# -- a provider that echoes the key -------------------------------------------------------------


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every POST with the configured status and a body that echoes the credentials in
    every shape a careless provider or proxy does: the header, a URL query string, the headers'
    repr; and the Authorization header echoed back as a response header."""

    server: _EchoServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        auth = self.headers.get("Authorization") or ""
        key = auth.removeprefix("Bearer ")
        message = (
            f"Incorrect API key provided: {auth}. Retry at "
            f"http://127.0.0.1/v1/chat?api_key={key}&user=x "
            f"with headers {dict(self.headers.items())!r}"
        )
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "param": key}}
        ).encode()
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-echo-authorization", auth)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


class _EchoServer(ThreadingHTTPServer):
    status: int


@pytest.fixture(params=[401, 404])
def echo_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """``(api_base, status)`` of an echoing server on 127.0.0.1."""
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    server.status = request.param
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", request.param
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(params=["sk-shaped", "unshaped"])
def canary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh key in ``OPENAI_API_KEY``: shaped like an OpenAI key, or not shaped like any key
    (then only knowing the key, or the environment, can hide it)."""
    if request.param == "sk-shaped":
        key = f"sk-canary-{secrets.token_hex(16)}"
    else:
        key = f"canary{secrets.token_hex(5)}"  # 16 characters, no known prefix
    monkeypatch.setenv("OPENAI_API_KEY", key)
    return key


@pytest.fixture(scope="module")
def litellm_loaded() -> None:
    # Imported up front so that its loggers exist when the test turns them to DEBUG.
    pytest.importorskip("litellm")


def _canary_muxer(tmp_path: Path, api_base: str, named_env: bool, *plugins: object) -> Muxer:
    deployment: dict[str, Any] = {"api_base": api_base}
    if named_env:
        deployment["api_key_env"] = "OPENAI_API_KEY"  # else litellm reads it itself
    settings = MuxerSettings(
        models=[{"id": MODEL, "deployment": deployment}],
        ledger=sqlite_settings(tmp_path),
        audit={"enabled": True, "spool_dir": tmp_path / "spool", "hmac_key_env": None},
        load_entrypoints=False,
        timeout_s=20.0,
    )
    return Muxer(settings=settings, plugins=plugins)


async def _audit_rows(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT * FROM audit_log"))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def _consume(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


@pytest.mark.slow
@pytest.mark.parametrize("named_env", [True, False], ids=["api_key_env", "litellm_reads_env"])
async def test_a_canary_key_leaks_nowhere_when_the_provider_refuses_it(
    litellm_loaded: None,
    canary: str,
    echo_server: tuple[str, int],
    named_env: bool,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api_base, status = echo_server
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    recorder, events = Recorder(), Events()
    muxer = _canary_muxer(tmp_path, api_base, named_env, recorder, events)
    errors: list[ProviderError] = []
    try:
        with pytest.raises(ProviderError) as completed:
            await muxer.acomplete("Say hello.", identity={"user": "u1", "org": "acme"})
        errors.append(completed.value)
        with pytest.raises(ProviderError) as streamed:
            await _consume(muxer.astream("Say hello again.", identity={"user": "u1"}))
        errors.append(streamed.value)
    finally:
        await muxer.aclose()

    # The calls did reach the server and fail as it answered: the test is not vacuous.
    for error in errors:
        assert error.status_code == status
        assert error.model == MODEL
        assert REDACTED in str(error)  # the echoed key was there, and was scrubbed
        assert_error_clean(canary, error)

    ledger_url = muxer.settings.ledger.resolved_url()
    rows = await afetch_rows(ledger_url)
    assert [r["outcome"] for r in rows] == ["error", "error"]
    assert all(r["error"] for r in rows)
    audit_rows = await _audit_rows(ledger_url)
    assert [r["outcome"] for r in audit_rows] == ["error", "error"]
    assert [r.outcome for r in recorder.records] == ["error", "error"]
    assert all(r.error for r in recorder.records)

    out, err = capfd.readouterr()
    assert_absent(
        canary,
        caplog.text,
        [r.getMessage() for r in caplog.records],
        out,
        err,
        rows,
        audit_rows,
        recorder.records,
        [r.model_dump_json() for r in recorder.records],
        recorder.ended,
        events.seen,
        muxer,
        muxer.settings,
        muxer.settings.model_dump_json(),
        muxer.catalog.cards(),
        [c.model_dump_json() for c in muxer.catalog.cards()],
        muxer.ledger,
        muxer.audit,
    )
    assert_no_file_holds(canary, tmp_path)  # the ledger and audit databases, outbox, spool


# -- scrubbing ----------------------------------------------------------------------------------

KEY = "zq" + secrets.token_hex(6) + "+/=&\"'\\"  # awkward characters for every encoding


@pytest.mark.parametrize(
    "shape",
    [
        "Incorrect API key provided: {key}",
        "Authorization: Bearer {key}",
        "GET https://api.example.com/v1/models?api_key={quoted}&limit=1",
        "GET https://api.example.com/v1/models?key={plus}",
        '{{"error": {{"message": "bad key", "param": {json}}}}}',
        "headers={{'authorization': {repr}, 'x-api-key': {repr}}}",
        "AuthenticationError: OpenAIException - Error code: 401 - {{'error': 'key {key}'}}",
    ],
)
def test_scrub_removes_a_known_key_in_every_encoding(shape: str) -> None:
    from urllib.parse import quote, quote_plus

    text_ = shape.format(
        key=KEY,
        quoted=quote(KEY, safe=""),
        plus=quote_plus(KEY),
        json=json.dumps(KEY),
        repr=repr(KEY),
    )
    scrubbed = scrub_secrets(text_, (KEY,))
    core = KEY[:14]  # the part without the awkward characters: no encoding changes it
    assert core not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize(
    ("leak", "secret"),
    [
        ("sk-proj-abcdefghijklmnop", "abcdefghijklmnop"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGciOiJI"),
        ("Authorization: Basic dXNlcjpodW50ZXIyaHVudGVy", "dXNlcjpodW50"),
        ("postgresql://app:hunter2hunter2@db:5432/x failed", "hunter2hunter2"),
        ("url=https://h/v1?access_token=tok123456789&x=1", "tok123456789"),
        ('{"api_key": "plainvalue99"}', "plainvalue99"),
        ("x-goog-api-key: AIzaSyA1234567890abcdefghijklmnopq", "AIzaSyA1234567890"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        ("aws AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
        ("opaque a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8 blob", "a1b2c3d4e5f6a7b8c9d0"),
    ],
)
def test_scrub_removes_unknown_keys_by_shape(leak: str, secret: str) -> None:
    assert secret not in scrub_secrets(leak)


def test_scrub_keeps_ordinary_text() -> None:
    ordinary = (
        "model openai/gpt-4o-mini not found (HTTP 404): max_tokens=4096 is too large; "
        "see https://platform.openai.com/docs/models and retry in 20s"
    )
    assert scrub_secrets(ordinary) == ordinary
    long_word = "a" * 5000  # a long run without digits is not a token (and scrubs quickly)
    assert scrub_secrets(long_word) == long_word


def test_scrub_removes_values_of_secret_looking_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_PROVIDER_API_KEY", "plainword-canary")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false-or-true")  # not a secret's name
    assert "plainword-canary" in env_secrets()
    assert "false-or-true" not in env_secrets()
    scrubbed = scrub_secrets("upstream said: plainword-canary is not valid; false-or-true")
    assert "plainword-canary" not in scrubbed
    assert "false-or-true" in scrubbed


def test_error_text_scrubs_the_exception_and_is_not_chained() -> None:
    try:
        try:
            raise OSError(f"connect failed with key {KEY}")
        except OSError as inner:
            raise RuntimeError(f"wrapped: {inner}") from inner
    except RuntimeError as outer:
        message = error_text(outer, (KEY,))
    assert message.startswith("RuntimeError: wrapped: connect failed with key")
    assert KEY[:14] not in message


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("aws_secret_access_key", True),
        ("Authorization", True),
        ("x-api-key", True),
        ("azure_ad_token", True),
        ("vertex_credentials", True),
        ("HF_TOKEN", True),
        ("key", True),
        ("max_tokens", False),
        ("TOKENIZERS_PARALLELISM", False),
        ("aws_access_key_id", False),
        ("api_base", False),
        ("PWD", False),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


# -- URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://default:hunter2@cache:6379/0", "redis://default:***@cache:6379/0"),
        ("postgresql+asyncpg://app:p%40ss@db/ledger", "postgresql+asyncpg://app:***@db/ledger"),
        (
            "rediss://cache:6380/1?password=hunter2&ssl=1",
            "rediss://cache:6380/1?password=***&ssl=1",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("postgresql+asyncpg://app@db/ledger", "postgresql+asyncpg://app@db/ledger"),
        ("sqlite+aiosqlite:///tmp/ledger.db", "sqlite+aiosqlite:///tmp/ledger.db"),
        ("memory", "memory"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_malformed_url_is_masked_by_shape() -> None:
    shown = redact_url("redis://user:hunter2@[::1:6379/0")  # bad IPv6 host: urlsplit fails
    assert "hunter2" not in shown
    assert shown.startswith("redis://user:")


PASSWORD = "pw-canary-" + secrets.token_hex(8)


def _settings_with_passwords() -> MuxerSettings:
    return MuxerSettings(
        models=list(OFFLINE_MODELS),
        cache={"redis_url": f"redis://:{PASSWORD}@cache:6379/0"},
        budgets={"backend": f"redis://default:{PASSWORD}@budgets:6379/1"},
        ledger={"url": f"postgresql+asyncpg://app:{PASSWORD}@db/ledger"},
        load_entrypoints=False,
    )


def test_urls_in_settings_are_masked_wherever_shown() -> None:
    settings = _settings_with_passwords()
    assert_absent(
        PASSWORD,
        settings,
        settings.cache,
        settings.budgets,
        settings.ledger,
        settings.model_dump(),
        settings.model_dump_json(),
    )
    assert "redis://:***@cache:6379/0" in repr(settings.cache)
    # ... while the code that connects gets the real URLs
    assert settings.cache.redis_url.get_secret_value() == f"redis://:{PASSWORD}@cache:6379/0"
    assert PASSWORD in settings.budgets.backend.get_secret_value()
    assert settings.ledger.resolved_url() == f"postgresql+asyncpg://app:{PASSWORD}@db/ledger"


def test_urls_from_the_environment_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELMUXER_CACHE", json.dumps({"redis_url": f"redis://:{PASSWORD}@cache:6379/0"})
    )
    settings = load_settings()
    assert_absent(PASSWORD, settings, settings.model_dump_json())
    assert PASSWORD in settings.cache.redis_url.get_secret_value()


def test_settings_round_trip_through_python_dumps() -> None:
    settings = _settings_with_passwords()
    again = MuxerSettings(**settings.model_dump())
    assert again.cache.redis_url.get_secret_value() == settings.cache.redis_url.get_secret_value()
    assert again.ledger.resolved_url() == settings.ledger.resolved_url()


def test_secret_url_types_still_validate() -> None:
    assert BudgetSettings().backend.get_secret_value() == "memory"
    assert CacheSettings().redis_url == SecretUrl("redis://127.0.0.1:6379/0")
    assert LedgerSettings().url is None
    with pytest.raises(ConfigError, match=r"budgets\.backend"):
        load_settings(budgets={"backend": ""})


def test_errors_about_urls_mask_the_password(make_muxer: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_muxer(
            OFFLINE_MODELS,
            settings=MuxerSettings(
                cache={
                    "enabled": True,
                    "backend": "redis",
                    "redis_url": f"http://u:{PASSWORD}@cache:6379",
                },
                load_entrypoints=False,
            ),
        )
    assert "redis_url" in str(info.value)
    assert_error_clean(PASSWORD, info.value)
    with pytest.raises(ConfigError, match=r"budgets\.backend") as bad_backend:
        BudgetSettings(backend=f"mysql://u:{PASSWORD}@db/x").build_store()
    assert_error_clean(PASSWORD, bad_backend.value)


@pytest.mark.slow
async def test_unreachable_redis_with_a_password_shows_it_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    events = Events()
    settings = MuxerSettings(
        models=list(OFFLINE_MODELS),
        cache={"enabled": True, "backend": "redis", "redis_url": url, "redis_timeout_s": 0.5},
        budgets={"backend": url, "budgets": [{"scope": "global", "limit_usd": 5}]},
        ledger=sqlite_settings(tmp_path),
        load_entrypoints=False,
    )
    muxer = Muxer(settings=settings, plugins=[events])
    outcomes: list[object] = []
    try:
        for prompt in ("What is 2 + 2?", "Name a prime number."):
            try:
                outcomes.append(await muxer.acomplete(prompt))
            except Exception as exc:  # whatever the guard decides, its error must be clean
                assert_error_clean(PASSWORD, exc)
                outcomes.append(exc)
    finally:
        await muxer.aclose()
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # Redis was tried
    assert_absent(PASSWORD, caplog.text, outcomes, events.seen, muxer, muxer.settings)
    assert_no_file_holds(PASSWORD, tmp_path)


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """The port of a ``redis-server`` of this test's own that requires a password (not the one
    the test sends); nothing is saved."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*args, "--requirepass", secrets.token_hex(16)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
async def test_a_refused_redis_password_is_not_echoed(
    redis_with_password: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reachable Redis refusing the password: the errors name the failure, never the
    password."""
    caplog.set_level(logging.DEBUG)
    url = f"redis://default:{PASSWORD}@127.0.0.1:{redis_with_password}/0"
    events = Events()
    settings = MuxerSettings(
        models=list(OFFLINE_MODELS),
        cache={"enabled": True, "backend": "redis", "redis_url": url, "redis_timeout_s": 1.0},
        budgets={"backend": url, "budgets": [{"scope": "global", "limit_usd": 5}]},
        load_entrypoints=False,
    )
    muxer = Muxer(settings=settings, plugins=[events])
    outcomes: list[object] = []
    try:
        try:
            outcomes.append(await muxer.acomplete("What is the capital of Peru?"))
        except Exception as exc:
            assert_error_clean(PASSWORD, exc)
            outcomes.append(exc)
    finally:
        await muxer.aclose()
    refusals = ("WRONGPASS", "AuthenticationError", "invalid username-password")
    assert any(word in caplog.text or word in repr(outcomes) for word in refusals)
    assert_absent(PASSWORD, caplog.text, outcomes, events.seen, muxer, muxer.settings)


# -- cards -------------------------------------------------------------------------------------

AWS_SECRET = "aws-canary-" + secrets.token_hex(8)
HEADER_SECRET = "hdr-canary-" + secrets.token_hex(8)
CUSTOM_SECRET = "custom-canary-" + secrets.token_hex(8)


def _secret_deployment() -> Deployment:
    return Deployment(
        api_base=f"https://proxy:{PASSWORD}@llm.internal/v1",
        api_key_env="OPENAI_API_KEY",
        extra={
            "aws_secret_access_key": AWS_SECRET,
            "extra_headers": {"Authorization": f"Bearer {HEADER_SECRET}", "X-Trace": "on"},
            "X-Custom-Auth": SecretStr(CUSTOM_SECRET),  # not secret by name: by type
            "aws_region_name": "eu-west-1",
        },
    )


def test_credentials_in_deployment_extra_are_masked_but_kept_for_the_backend() -> None:
    deployment = _secret_deployment()
    card = ModelCard(
        id=MODEL,
        provider="openai",
        input_cost_per_token=1e-7,
        output_cost_per_token=1e-7,
        context_window=1000,
        max_output_tokens=100,
        deployment=deployment,
    )
    for secret in (AWS_SECRET, HEADER_SECRET, CUSTOM_SECRET, PASSWORD):
        assert_absent(secret, deployment, card, card.model_dump(), card.model_dump_json())
    assert MASK in card.model_dump_json()
    # what a backend passes to the provider: the real values
    assert deployment.extra["aws_secret_access_key"] == AWS_SECRET
    assert deployment.extra["X-Custom-Auth"] == CUSTOM_SECRET
    assert deployment.extra["extra_headers"]["X-Trace"] == "on"
    assert deployment.api_base == f"https://proxy:{PASSWORD}@llm.internal/v1"
    assert set(deployment.secret_values()) == {AWS_SECRET, f"Bearer {HEADER_SECRET}", CUSTOM_SECRET}
    assert "eu-west-1" in repr(deployment)  # ordinary parameters stay readable


def test_a_card_validated_from_its_python_dump_is_the_same_card() -> None:
    deployment = _secret_deployment()
    again = Deployment.model_validate(deployment.model_dump())
    assert again == deployment
    assert again.extra == deployment.extra
    assert_absent(CUSTOM_SECRET, again)


def test_a_bad_model_spec_error_does_not_show_its_credentials() -> None:
    spec = {
        "id": MODEL,
        "input_price_per_mtok": -1,  # invalid
        "deployment": {"extra": {"aws_secret_access_key": AWS_SECRET}},
    }
    with pytest.raises(ConfigError) as info:
        Catalog.build([spec], lambda model_id, backend: model_id)
    assert "input_price_per_mtok" in str(info.value)
    assert_error_clean(AWS_SECRET, info.value)


def test_model_specs_in_settings_mask_their_credentials() -> None:
    settings = MuxerSettings(
        models=[{"id": MODEL, "deployment": _secret_deployment().model_dump()}],
        load_entrypoints=False,
    )
    spec = settings.models[0]
    assert isinstance(spec, ModelSpec)
    assert spec.deployment.extra["aws_secret_access_key"] == AWS_SECRET
    for secret in (AWS_SECRET, HEADER_SECRET, CUSTOM_SECRET, PASSWORD):
        assert_absent(secret, settings, settings.model_dump_json())
