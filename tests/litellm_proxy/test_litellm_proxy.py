"""The LiteLLM proxy with ModelMuxer as a callback (``examples/litellm_proxy/config.yaml``).

Starts the proxy (``litellm[proxy]``, the workspace's ``proxy`` dependency group: run with
``tox -e litellm-proxy``) on 127.0.0.1 with the example's mock deployments, and talks to it with
the official ``openai`` client.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _audit_support import fetch_audit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "litellm_proxy"
MASTER_KEY = "sk-modelmuxer-proxy-test"
EASY = [{"role": "user", "content": "hi"}]
HARD = [
    {
        "role": "user",
        "content": "Prove rigorously that there are infinitely many primes, then derive the "
        "error term of the prime number theorem and write a Python function that checks it.",
    }
]


def _proxy_cli() -> Path:
    cli = Path(sys.executable).parent / "litellm"
    if importlib.util.find_spec("fastapi") is None or not cli.exists():
        pytest.skip(
            "needs litellm[proxy] (fastapi and the litellm CLI): run `tox -e litellm-proxy` "
            "(the workspace's `proxy` dependency group)"
        )
    return cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until the proxy answers its liveness probe; fails with its log if it exits or hangs."""
    for _ in range(600):
        if process.poll() is not None:
            pytest.fail(f"the proxy exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health/liveliness", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the proxy did not start in 5 minutes:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def proxy_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("litellm-proxy")


@pytest.fixture(scope="module")
def audit_url(proxy_tmp: Path) -> str:
    """The audit log the proxy's ModelMuxer callback keeps (``MODELMUXER_AUDIT_URL``)."""
    return f"sqlite+aiosqlite:///{proxy_tmp / 'audit.db'}"


@pytest.fixture(scope="module")
def proxy(proxy_tmp: Path, audit_url: str) -> Iterator[tuple[str, Path]]:
    """The proxy's base URL and the file its ModelMuxer callback writes records to."""
    cli = _proxy_cli()
    tmp = proxy_tmp
    records, log = tmp / "records.jsonl", tmp / "proxy.log"
    port = _free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MODELMUXER_RECORDS_FILE": str(records),
        "MODELMUXER_AUDIT_URL": audit_url,
        "MODELMUXER_HOME": str(tmp / "home"),  # the audit spool stays in the test's files
        "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    command = [str(cli), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=EXAMPLE, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield url, records
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _records(path: Path, count: int) -> list[dict[str, Any]]:
    """The records once ``count`` are written (the proxy logs after answering)."""
    for _ in range(200):
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line]
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"expected {count} records in {path}")


def test_the_proxy_answers_from_the_deployment_modelmuxer_chose(
    proxy: tuple[str, Path],
) -> None:
    import openai

    url, records_file = proxy
    client = openai.OpenAI(base_url=url, api_key=MASTER_KEY)
    easy = client.chat.completions.with_raw_response.create(
        model="chat", messages=EASY, user="alice", extra_body={"metadata": {"project": "docs"}}
    )
    hard = client.chat.completions.with_raw_response.create(model="modelmuxer/auto", messages=HARD)
    assert easy.parse().choices[0].message.content == "answered by gpt-4o-mini"
    assert hard.parse().choices[0].message.content == "answered by gpt-5"
    # the proxy returns the callback's x-modelmuxer-* headers with its llm_provider- prefix
    assert easy.headers["llm_provider-x-modelmuxer-deployment"] == "chat-mini"
    assert hard.headers["llm_provider-x-modelmuxer-deployment"] == "reasoning-gpt5"
    assert hard.headers["llm_provider-x-modelmuxer-strategy"] == "hybrid"
    records = {r["request_id"]: r for r in _records(records_file, 2)}
    first = records[easy.headers["llm_provider-x-modelmuxer-request-id"]]
    second = records[hard.headers["llm_provider-x-modelmuxer-request-id"]]
    assert (first["model"], first["outcome"], first["strategy"]) == ("chat-mini", "ok", "hybrid")
    assert first["identity"]["user"] == "alice"
    assert first["identity"]["project"] == "docs"
    assert first["cost_usd"] > 0
    assert second["model"] == "reasoning-gpt5"


def test_streaming_through_the_proxy_is_recorded(proxy: tuple[str, Path]) -> None:
    import openai

    url, records_file = proxy
    before = len(_records(records_file, 0)) if records_file.exists() else 0
    client = openai.OpenAI(base_url=url, api_key=MASTER_KEY)
    stream = client.chat.completions.create(model="chat", messages=EASY, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "answered by gpt-4o-mini"
    record = _records(records_file, before + 1)[-1]
    assert (record["model"], record["streamed"], record["outcome"]) == ("chat-mini", True, "ok")


def _audited(url: str, users: set[str]) -> dict[str, dict[str, Any]]:
    """The audit rows of ``users``' requests, by user, once all are written (the log writes
    in batches)."""
    rows: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        if Path(url.removeprefix("sqlite+aiosqlite:///")).exists():
            rows = {row["user"]: row for row in fetch_audit(url) if row["user"] in users}
            if rows.keys() == users:
                return rows
        time.sleep(0.1)
    raise AssertionError(f"expected audit entries of {users} in {url}, got {rows}")


def test_the_proxy_audits_every_request_answered_or_refused(
    proxy: tuple[str, Path], audit_url: str
) -> None:
    import openai

    url, _ = proxy
    client = openai.OpenAI(base_url=url, api_key=MASTER_KEY, max_retries=0)
    ok = client.chat.completions.with_raw_response.create(model="chat", messages=EASY, user="ann")
    ok_id = ok.headers["llm_provider-x-modelmuxer-request-id"]
    # no deployment is allowed for this request: ModelMuxer refuses it, LiteLLM gives up
    with pytest.raises(openai.APIError):
        client.chat.completions.create(
            model="chat",
            messages=EASY,
            user="bob",
            extra_body={"metadata": {"modelmuxer_routing": {"allow": ["no-such-deployment"]}}},
        )
    rows = _audited(audit_url, {"ann", "bob"})
    answered, refused = rows["ann"], rows["bob"]
    assert (answered["request_id"], answered["outcome"], answered["model"]) == (
        ok_id,
        "ok",
        "chat-mini",
    )
    assert answered["cost_usd"] > 0
    assert (refused["outcome"], refused["model"], refused["cost_usd"]) == ("error", None, 0)
