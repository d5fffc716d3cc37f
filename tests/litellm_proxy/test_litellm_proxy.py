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
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The proxy's base URL and the file its ModelMuxer callback writes records to."""
    cli = _proxy_cli()
    tmp = tmp_path_factory.mktemp("litellm-proxy")
    records, log = tmp / "records.jsonl", tmp / "proxy.log"
    port = _free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MODELMUXER_RECORDS_FILE": str(records),
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
