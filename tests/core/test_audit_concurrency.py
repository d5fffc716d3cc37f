"""100 concurrent appends to one audit log, from threads and from processes, on SQLite and the
real PostgreSQL: afterwards one chain, seq 1..100 without a gap, no fork, and verify passes.

Run as a script (``python test_audit_concurrency.py <url> <prefix> <count>``), this module is
one appending process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # for the script mode: _audit_support lives in tests/

from _audit_support import audit_settings, fetch_audit, make_body  # noqa: E402
from _ledger_support import scratch_database  # noqa: E402

from modelmuxer.audit import AuditLog  # noqa: E402
from modelmuxer.audit.store import append_entries  # noqa: E402
from modelmuxer.audit.verify import verify_chain  # noqa: E402
from modelmuxer.ledger.engine import make_engine  # noqa: E402
from modelmuxer.ledger.migrate import upgrade  # noqa: E402

TOTAL = 100


def append_one_by_one(url: str, prefix: str, count: int) -> None:
    """``count`` appends of one entry each (one transaction each: the most contention)."""

    async def run() -> None:
        engine = make_engine(url)
        try:
            for i in range(count):
                await append_entries(engine, [make_body(i, request_id=f"{prefix}-{i}")], None)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        upgrade(found)
        yield found
    else:
        for found in scratch_database(request.getfixturevalue("postgres_url")):
            upgrade(found)
            yield found


def _check_one_chain(url: str, expected_ids: set[str]) -> None:
    rows = fetch_audit(url)
    assert [r["seq"] for r in rows] == list(range(1, TOTAL + 1))
    assert {r["request_id"] for r in rows} == expected_ids
    assert len({r["prev_hash"] for r in rows}) == TOTAL  # no two rows follow the same row
    result = verify_chain(url)
    assert result.ok, result
    assert (result.rows, result.head_seq) == (TOTAL, TOTAL)


def test_threads_appending_at_once_leave_one_chain(url: str) -> None:
    threads_n, each = 20, TOTAL // 20
    start = threading.Barrier(threads_n)
    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            append_one_by_one(url, f"t{t}", each)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    _check_one_chain(url, {f"t{t}-{i}" for t in range(threads_n) for i in range(each)})


@pytest.mark.slow
def test_processes_appending_at_once_leave_one_chain(url: str) -> None:
    processes, each = 4, TOTAL // 4
    env = {**os.environ, "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, url, f"p{p}", str(each)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in range(processes)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    _check_one_chain(url, {f"p{p}-{i}" for p in range(processes) for i in range(each)})


def test_audit_logs_writing_batches_at_once_leave_one_chain(url: str, tmp_path: Path) -> None:
    logs = [AuditLog(audit_settings(url, tmp_path / str(n), batch_size=7)) for n in range(4)]
    for i in range(TOTAL):
        logs[i % 4]._writer.put(make_body(i, request_id=f"log-{i}"))
    closers = [threading.Thread(target=log.close) for log in logs]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join()
    _check_one_chain(url, {f"log-{i}" for i in range(TOTAL)})


if __name__ == "__main__":
    append_one_by_one(sys.argv[1], sys.argv[2], int(sys.argv[3]))
