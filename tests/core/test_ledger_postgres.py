"""The ledger on the real PostgreSQL: exact rows, idempotent replays, a server stopped under
load, and a worker killed before its records were flushed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from _ledger_support import fetch_rows, make_record, scratch_database

from modelmuxer.ledger import CostLedger, LedgerSettings
from modelmuxer.types import Usage

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def pg_ledger_url(postgres_url: str) -> Iterator[str]:
    """A fresh database on the shared server, dropped afterwards."""
    yield from scratch_database(postgres_url)


def _settings(url: str, tmp_path: Path, **fields: object) -> LedgerSettings:
    values: dict[str, object] = {
        "enabled": True,
        "url": url,
        "outbox_dir": tmp_path / "outbox",
        "flush_interval_s": 0.05,
        "retry_interval_s": 0.2,
    }
    values.update(fields)
    return LedgerSettings(**values)


def test_rows_are_exact_decimals_on_postgres(pg_ledger_url: str, tmp_path: Path) -> None:
    with CostLedger(_settings(pg_ledger_url, tmp_path)) as ledger:
        ledger.modelmuxer_record(make_record("a", cost_usd=0.000123456789012))
        ledger.modelmuxer_record(make_record("a", cost_usd=0.000123456789012))  # duplicate
        ledger.modelmuxer_record(make_record("b", cache="semantic", cost_usd=0.0, saved_usd=0.5))
        assert ledger.flush()
        ledger.record_feedback("a", 1.0)
        (training,) = ledger.training_rows()
        assert training.request_id == "a"
    rows = {r["request_id"]: r for r in fetch_rows(pg_ledger_url)}
    assert set(rows) == {"a", "b"}
    assert rows["a"]["cost_usd"] == Decimal("0.000123456789")
    assert rows["b"]["saved_usd"] == Decimal("0.5")
    assert rows["a"]["started_at"].tzinfo is not None


# -- a server stopped for a while under load --------------------------------------------------


def _outbox_lines(outbox: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in outbox.glob("*.jsonl"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateCluster:
    """A throwaway PostgreSQL cluster (the shared server is never stopped)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mm-pg-"))
        shutil.chown(self.dir, "postgres")
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(
            PG_BIN / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres"
        )

    def _as_postgres(self, *argv: object) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, argv)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", self.dir / "data", "-o", options, "-l", self.dir / "log", "-w",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"needs PostgreSQL 15 binaries in {PG_BIN} and runuser")
    if os.geteuid() != 0:
        pytest.skip("starting a private PostgreSQL cluster needs root (initdb runs as postgres)")
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.mark.slow
def test_postgres_stopped_under_load_loses_and_duplicates_nothing(
    private_cluster: PrivateCluster, tmp_path: Path
) -> None:
    settings = _settings(private_cluster.url, tmp_path, batch_size=200)
    ledger = CostLedger(settings)
    written: list[str] = []
    stop_writing = threading.Event()

    def load() -> None:
        i = 0
        while not stop_writing.is_set():
            request_id = f"req-{i:06d}"
            ledger.modelmuxer_record(make_record(request_id, usage=Usage(prompt_tokens=i)))
            written.append(request_id)
            i += 1
            if i % 50 == 0:
                time.sleep(0.005)  # a steady stream, not one burst

    writer = threading.Thread(target=load)
    writer.start()
    try:
        time.sleep(1.0)
        private_cluster.stop()  # the database goes away while records keep coming
        during_stop = len(written)
        time.sleep(1.5)
        before_restart = len(written)
        assert before_restart > during_stop  # the hot path kept answering
        # what arrived while the server was down waits in the outbox files
        assert _outbox_lines(tmp_path / "outbox") >= before_restart - during_stop
        private_cluster.start()
        time.sleep(1.0)
    finally:
        stop_writing.set()
        writer.join()
    assert ledger.close()
    rows = fetch_rows(private_cluster.url)
    ids = [r["request_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(written)
    assert list((tmp_path / "outbox").glob("*.jsonl")) == []


# -- a worker killed before its records were flushed ------------------------------------------

_WORKER = textwrap.dedent(
    """
    import sys
    from modelmuxer import Muxer
    from modelmuxer.config import MuxerSettings
    from modelmuxer.ledger import LedgerSettings

    url, outbox = sys.argv[1], sys.argv[2]
    # A flush interval far longer than the run: only the outbox can save these records.
    ledger = LedgerSettings(enabled=True, url=url, outbox_dir=outbox, flush_interval_s=60,
                            batch_size=100_000)
    muxer = Muxer(["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
                  settings=MuxerSettings(ledger=ledger, load_entrypoints=False))
    i = 0
    while True:
        completion = muxer.complete(f"What is {i} + {i}?")
        print(completion.request_id, flush=True)  # answered: the caller has it
        i += 1
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_killed_worker_loses_no_answered_record(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database == "postgres":
        url = request.getfixturevalue("pg_ledger_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    outbox = tmp_path / "outbox"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, url, str(outbox)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    answered: list[str] = []
    assert worker.stdout is not None
    try:
        for line in worker.stdout:
            answered.append(line.strip())
            if len(answered) >= 300:
                break
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    answered += [line.strip() for line in worker.stdout]  # printed before the kill landed
    assert len(answered) >= 300
    # the worker never flushed: its answered records are all in its outbox segment
    assert _outbox_lines(outbox) >= len(answered)
    with CostLedger(_settings(url, tmp_path)) as ledger:
        assert ledger.flush()
    ids = [r["request_id"] for r in fetch_rows(url)]
    assert len(ids) == len(set(ids))
    assert set(answered) <= set(ids)
    assert list(outbox.glob("*.jsonl")) == []


def test_ledgers_starting_together_migrate_once_and_keep_every_row(
    pg_ledger_url: str, tmp_path: Path
) -> None:
    ledgers = [CostLedger(_settings(pg_ledger_url, tmp_path / str(n))) for n in range(3)]
    for n, ledger in enumerate(ledgers):
        for i in range(100):
            ledger.modelmuxer_record(make_record(f"{n}-{i}"))
    assert all([ledger.close() for ledger in ledgers])
    ids = [r["request_id"] for r in fetch_rows(pg_ledger_url)]
    assert len(ids) == len(set(ids)) == 300


def test_a_row_the_database_refuses_does_not_block_the_others(
    pg_ledger_url: str, tmp_path: Path
) -> None:
    settings = _settings(pg_ledger_url, tmp_path)
    with CostLedger(settings) as ledger:
        ledger.modelmuxer_record(make_record("good-1"))
        ledger.modelmuxer_record(make_record("bad", outcome="error", error="nul \x00 byte"))
        ledger.modelmuxer_record(make_record("good-2"))
    assert sorted(r["request_id"] for r in fetch_rows(pg_ledger_url)) == ["good-1", "good-2"]
    rejected = (tmp_path / "outbox" / "rejected.ndjson").read_bytes()
    assert b'"bad"' in rejected
