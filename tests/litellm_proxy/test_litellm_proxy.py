"""The LiteLLM proxy with ModelMuxer as a callback (``examples/litellm_proxy/config.yaml``).

Starts the proxy (``litellm[proxy]``, the workspace's ``proxy`` dependency group: run with
``tox -e litellm-proxy``) on 127.0.0.1 with the example's mock deployments, and talks to it with
the official ``openai`` client.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _audit_support import fetch_audit
from _fault_server import KEY_VALUE, Fault, FaultServer

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


def _start_proxy(config_dir: Path, tmp: Path, audit_url: str) -> Iterator[tuple[str, Path]]:
    """The proxy of ``config_dir/config.yaml``, with the ModelMuxer callback writing its records
    to a file in ``tmp``: its base URL and that file."""
    cli = _proxy_cli()
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
        process = subprocess.Popen(command, cwd=config_dir, env=env, stdout=out, stderr=out)
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


@pytest.fixture(scope="module")
def proxy(proxy_tmp: Path, audit_url: str) -> Iterator[tuple[str, Path]]:
    """The example's proxy: its base URL and the file its ModelMuxer callback writes records
    to."""
    yield from _start_proxy(EXAMPLE, proxy_tmp, audit_url)


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
    # no deployment is allowed for this request: ModelMuxer refuses it, LiteLLM gives up at
    # once (a refusal is not retried) and the client gets a 400, not a 500 its SDK retries
    with pytest.raises(openai.BadRequestError, match="allow"):
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


#: the slow deployment's answer, streamed a word a chunk
SLOW_TEXT = " ".join(f"word{i}" for i in range(60))


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FaultServer]:
    """A fault server on 127.0.0.1 that streams ``SLOW_TEXT`` slowly (a tenth of a second a
    chunk), served from a thread of its own (the proxy is another process)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="slow-server", daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(FaultServer().start(), loop).result(10)
    server.always("gpt-4o-mini", Fault(text=SLOW_TEXT, chunk_delay_s=0.1))
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def slow_proxy(
    tmp_path_factory: pytest.TempPathFactory, slow_server: FaultServer
) -> Iterator[tuple[str, Path, str]]:
    """A proxy whose one deployment streams from ``slow_server``, with the example's callback:
    its base URL, its records file and its audit log's URL."""
    tmp = tmp_path_factory.mktemp("litellm-proxy-slow")
    shutil.copy(EXAMPLE / "modelmuxer_callback.py", tmp)
    (tmp / "config.yaml").write_text(
        json.dumps(  # JSON is YAML
            {
                "model_list": [
                    {
                        "model_name": "slow",
                        "litellm_params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": slow_server.url,
                            "api_key": KEY_VALUE,
                        },
                        "model_info": {"id": "slow-mini"},
                    }
                ],
                "litellm_settings": {"callbacks": "modelmuxer_callback.modelmuxer"},
                "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
            }
        )
    )
    audit = f"sqlite+aiosqlite:///{tmp / 'audit.db'}"
    for url, records in _start_proxy(tmp, tmp, audit):
        yield url, records, audit


def test_a_client_that_disconnects_mid_stream_is_recorded_and_its_request_ended(
    slow_proxy: tuple[str, Path, str],
) -> None:
    """A real client goes away after three chunks of a slow stream: the proxy stops relaying
    it, and the callback records the call as cancelled with the tokens streamed so far, and
    ends (audits) its request."""
    import httpx

    url, records_file, audit = slow_proxy
    body = {"model": "slow", "messages": EASY, "stream": True, "user": "leaver"}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    chunks = 0
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as answer,
    ):
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: {"):
                chunks += 1
                if chunks == 3:
                    break  # leaving the block closes the connection mid-stream
    (record,) = _records(records_file, 1)
    assert (record["model"], record["streamed"], record["outcome"]) == (
        "slow-mini",
        True,
        "cancelled",
    )
    assert 0 < record["usage"]["completion_tokens"] < 60
    assert record["cost_usd"] > 0
    row = _audited(audit, {"leaver"})["leaver"]
    assert (row["request_id"], row["outcome"], row["models"]) == (
        record["request_id"],
        "cancelled",
        ["slow-mini"],
    )
    assert float(row["cost_usd"]) == pytest.approx(record["cost_usd"])
    time.sleep(1)  # the proxy's own report of the partial answer comes after: not counted twice
    assert len(_records(records_file, 1)) == 1
