"""The audit log: one entry per request (answered, failed, refused, cached, streamed, cancelled),
no prompt text unless asked, a chain that verify() checks and whose tampering it names."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _audit_support import audit_settings, execute, fetch_audit, insert_forged, make_body
from _ledger_support import scratch_database
from _support import MakeMuxer

from modelmuxer import ConfigError, Muxer, NoEligibleModel, ProviderError, hookimpl
from modelmuxer.audit import AuditLog, AuditSettings
from modelmuxer.audit.chain import GENESIS, body_of_row, entry_hash
from modelmuxer.audit.verify import verify_chain
from modelmuxer.cli import main
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.ledger.migrate import upgrade

MINI = "offline/openai/gpt-4o-mini"
GPT4O = "offline/openai/gpt-4o"
PROMPT = "My email is ann@example.com: what is the capital of France?"
KEY = "k" * 40


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at the newest schema: a SQLite file, or a scratch PostgreSQL one."""
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        upgrade(found)
        yield found
    else:
        for found in scratch_database(request.getfixturevalue("postgres_url")):
            upgrade(found)
            yield found


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


class PiiFound:
    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        ctx.state["pii_counts"] = {"email": 1}


def _muxer(make_muxer: MakeMuxer, url: str, tmp_path: Path, **settings: Any) -> Muxer:
    audit = settings.pop("audit", {})
    values: dict[str, Any] = {
        "models": [MINI, GPT4O],
        "load_entrypoints": False,
        "audit": audit_settings(url, tmp_path, **audit).model_dump(),
    }
    values.update(settings)
    return make_muxer(None, settings=load_settings(**values), plugins=[PiiFound()])


def _fill(url: str, tmp_path: Path, count: int, **settings: Any) -> tuple[int, str]:
    """``count`` entries appended through an AuditLog; the head."""
    with AuditLog(audit_settings(url, tmp_path, **settings)) as audit:
        for n in range(count):
            audit._writer.put(make_body(n))
        result = audit.verify()
    assert result.ok, result
    return result.head_seq, result.head_hash


# -- one entry per request ------------------------------------------------------------------------


async def test_every_request_gets_one_entry(
    make_muxer: MakeMuxer, sqlite_url: str, tmp_path: Path
) -> None:
    muxer = _muxer(
        make_muxer,
        sqlite_url,
        tmp_path,
        cache={"enabled": True},
        policies={
            "rules": [{"name": "interns", "match": {"roles": ["intern"]}, "deny_models": [GPT4O]}]
        },
    )
    ok = await muxer.acomplete(PROMPT, identity={"user": "ann", "org": "acme"}, tags=["t"])
    hit = await muxer.acomplete(PROMPT, identity={"user": "ann", "org": "acme"}, tags=["t"])
    assert hit.cache == "exact"
    with pytest.raises(NoEligibleModel):
        await muxer.acomplete(PROMPT, model=GPT4O, identity={"role": "intern"})
    with pytest.raises(ProviderError):
        await muxer.acomplete(PROMPT, metadata={"offline": {"fail": "bad_request"}})
    streamed = [c async for c in muxer.astream("Count to three.", identity={"user": "bob"})]
    stream = muxer.astream("Write a long essay about the sea.", max_tokens=400)
    async for _chunk in stream:
        break
    await stream.aclose()
    await muxer.aclose()

    rows = await asyncio.to_thread(fetch_audit, sqlite_url)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    first, cached, denied, failed, whole, cancelled = rows
    assert (first["request_id"], first["user"], first["org"]) == (ok.request_id, "ann", "acme")
    assert (first["model"], first["models"], first["outcome"]) == (ok.model, [ok.model], "ok")
    assert first["cost_usd"] == Decimal(repr(ok.cost_usd)).quantize(Decimal("1e-12"))
    assert first["reason"] == ok.decision.reason
    assert (first["tags"], first["pii_counts"], first["policies"]) == (["t"], {"email": 1}, [])
    assert (first["cache"], cached["cache"], cached["cost_usd"]) == ("miss", "exact", Decimal(0))
    assert cached["request_id"] == hit.request_id
    assert (denied["outcome"], denied["error_type"], denied["model"]) == (
        "error",
        "NoEligibleModel",
        None,
    )
    assert "policy 'interns'" in denied["reason"]
    assert denied["policies"] == ["interns"]
    assert (failed["outcome"], failed["error_type"]) == ("error", "ProviderError")
    assert failed["reason"].endswith(": ProviderError")  # no provider text
    assert failed["models"]  # the model that was called, from its record
    assert whole["request_id"] == streamed[-1].completion.request_id  # type: ignore[union-attr]
    assert (whole["user"], whole["outcome"]) == ("bob", "ok")
    assert cancelled["outcome"] == "cancelled"
    assert (await asyncio.to_thread(verify_chain, sqlite_url)).ok


def test_no_prompt_text_unless_configured(
    make_muxer: MakeMuxer, sqlite_url: str, tmp_path: Path
) -> None:
    muxer = _muxer(make_muxer, sqlite_url, tmp_path)
    muxer.complete(PROMPT)
    muxer.close()
    (row,) = fetch_audit(sqlite_url)
    assert row["prompt"] is None
    assert not any("ann@example.com" in str(value) for value in row.values())
    other = tmp_path / "other"
    url = f"sqlite+aiosqlite:///{other / 'ledger.db'}"
    kept = _muxer(make_muxer, url, other, audit={"store_prompts": True})
    kept.complete(PROMPT)
    kept.close()
    assert [r["prompt"] for r in fetch_audit(url)] == [PROMPT]


def test_close_writes_what_is_queued(
    make_muxer: MakeMuxer, sqlite_url: str, tmp_path: Path
) -> None:
    muxer = _muxer(make_muxer, sqlite_url, tmp_path, audit={"flush_interval_s": 60.0})
    for _ in range(25):
        muxer.complete(PROMPT)
    muxer.close()
    assert len(fetch_audit(sqlite_url)) == 25


def test_the_log_defaults_to_the_ledgers_database(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    settings = load_settings(
        models=[MINI],
        load_entrypoints=False,
        ledger={"enabled": True, "url": url, "outbox_dir": str(tmp_path / "outbox")},
        audit={"enabled": True, "hmac_key_env": None, "spool_dir": str(tmp_path / "spool")},
    )
    muxer = make_muxer(None, settings=settings)
    assert muxer.audit is not None
    assert muxer.audit.url == url
    muxer.complete(PROMPT)
    muxer.close()
    assert len(fetch_audit(url)) == 1


def test_entries_wait_in_the_spool_while_the_database_is_down(
    make_muxer: MakeMuxer, sqlite_url: str, tmp_path: Path
) -> None:
    down = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    muxer = _muxer(make_muxer, down, tmp_path)
    answers = [muxer.complete(PROMPT) for _ in range(3)]  # the requests do not wait for it
    muxer.close()
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    with AuditLog(audit_settings(sqlite_url, tmp_path)) as audit:
        assert audit.flush()
    assert [r["request_id"] for r in fetch_audit(sqlite_url)] == [a.request_id for a in answers]
    assert list((tmp_path / "spool").glob("*.jsonl")) == []
    assert verify_chain(sqlite_url).ok


# -- the chain and its verification ---------------------------------------------------------------


def test_the_chain_links_every_row_to_the_previous(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 4)
    rows = fetch_audit(url)
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["hash"]
    for row in rows:
        assert entry_hash(body_of_row(row), row["prev_hash"], None) == row["hash"]


def test_an_altered_row_is_named(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 5)
    execute(url, "UPDATE audit_log SET cost_usd = cost_usd * 2 WHERE seq = 3")
    result = verify_chain(url)
    assert not result.ok
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == ("altered", 3)
    assert (result.rows, result.head_seq) == (2, 2)


def test_an_altered_json_column_is_named(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 3)
    execute(url, """UPDATE audit_log SET models = '["offline/openai/gpt-4o"]' WHERE seq = 2""")
    problem = verify_chain(url).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("altered", 2)


def test_a_deleted_row_is_named(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 5)
    execute(url, "DELETE FROM audit_log WHERE seq = 3")
    problem = verify_chain(url).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 3)
    execute(url, "DELETE FROM audit_log WHERE seq = 4")
    problem = verify_chain(url).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 3)
    assert "rows 3 to 4 missing" in problem.detail


def test_a_deleted_first_row_is_named(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 3)
    execute(url, "DELETE FROM audit_log WHERE seq = 1")
    problem = verify_chain(url).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 1)


def _make_room(url: str, at: int) -> None:
    """Renumber the rows from ``at`` on one up, as an intruder inserting a row must."""
    execute(
        url,
        f"UPDATE audit_log SET seq = seq + 1000 WHERE seq >= {at}",
        f"UPDATE audit_log SET seq = seq - 999 WHERE seq >= {at + 1000}",
    )


@pytest.mark.parametrize("keyed", [False, True], ids=["sha256", "hmac"])
def test_an_inserted_row_is_named(url: str, tmp_path: Path, keyed: bool) -> None:
    key = {"hmac_key": KEY} if keyed else {}
    _fill(url, tmp_path, 5, **key)
    _make_room(url, 3)
    insert_forged(url, 3)
    problem = verify_chain(url, key=KEY.encode() if keyed else None).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("inserted", 3)


def _swap(url: str, a: int, b: int) -> None:
    """Put rows ``a`` and ``b`` in each other's place, as an intruder reordering the log must."""
    execute(
        url,
        f"UPDATE audit_log SET seq = 1000 WHERE seq = {a}",
        f"UPDATE audit_log SET seq = {a} WHERE seq = {b}",
        f"UPDATE audit_log SET seq = {b} WHERE seq = 1000",
    )


@pytest.mark.parametrize(("a", "b"), [(1, 2), (3, 4), (2, 5), (5, 6)])
def test_reordered_rows_are_named(url: str, tmp_path: Path, a: int, b: int) -> None:
    # a reordering used to be reported as an insertion ("this row was put between them"),
    # which sends an investigator looking for a forged row that does not exist
    _fill(url, tmp_path, 6)
    _swap(url, a, b)
    result = verify_chain(url)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == ("reordered", a)
    assert f"row {a} follows row {b - 1 if b > a + 1 else b}" in result.problem.detail
    assert "row 0" not in str(result)
    assert result.rows == a - 1


def test_a_row_appended_past_the_chain_is_named(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 3)
    insert_forged(url, 4, prev_hash=secrets.token_hex(32))
    problem = verify_chain(url).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("inserted", 4)


def test_rows_cut_from_the_end_show_against_a_recorded_head(url: str, tmp_path: Path) -> None:
    head = _fill(url, tmp_path, 4)
    assert verify_chain(url, expect_head=head).ok
    execute(url, "DELETE FROM audit_log WHERE seq >= 3")
    assert verify_chain(url).ok  # the chain alone cannot tell
    problem = verify_chain(url, expect_head=head).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 3)


def test_a_keyed_chain_needs_its_key(url: str, tmp_path: Path) -> None:
    _fill(url, tmp_path, 3, hmac_key=KEY)
    assert verify_chain(url, key=KEY.encode()).ok
    unkeyed = verify_chain(url)
    assert unkeyed.problem is not None
    assert (unkeyed.problem.kind, unkeyed.problem.seq) == ("altered", 1)
    assert "pass that key" in unkeyed.problem.detail
    wrong = verify_chain(url, key=b"w" * 40)
    assert not wrong.ok
    # rewriting a row and its hash without the key does not verify
    rows = fetch_audit(url)
    body = body_of_row(rows[1])
    body["cost_usd"] = "0.000000000000"
    forged = entry_hash(body, rows[1]["prev_hash"], None)
    execute(url, f"UPDATE audit_log SET cost_usd = 0, hash = '{forged}' WHERE seq = 2")
    problem = verify_chain(url, key=KEY.encode()).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("altered", 2)


def test_an_unkeyed_chain_checked_with_a_key_says_so(sqlite_url: str, tmp_path: Path) -> None:
    _fill(sqlite_url, tmp_path, 2)
    problem = verify_chain(sqlite_url, key=KEY.encode()).problem
    assert problem is not None
    assert "written without an HMAC key" in problem.detail


def test_the_hmac_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMUXER_AUDIT_HMAC_KEY", KEY)
    settings = AuditSettings(enabled=True)
    assert settings.resolved_key() == KEY.encode()
    assert KEY not in repr(load_settings(audit={"enabled": True, "hmac_key": KEY}))
    monkeypatch.setenv("MODELMUXER_AUDIT_HMAC_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32 bytes") as caught:
        settings.resolved_key()
    assert "short" not in str(caught.value)


# -- the command line -----------------------------------------------------------------------------


def test_the_cli_verifies_and_names_the_broken_row(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq, digest = _fill(url, tmp_path, 4)
    assert main(["audit", "verify", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "intact: 4 rows" in out
    assert f"--expect-head {seq}:{digest}" in out
    execute(url, "UPDATE audit_log SET org = 'other' WHERE seq = 2")
    assert main(["audit", "verify", "--url", url]) == 1
    assert "row 2 altered" in capsys.readouterr().out
    assert main(["audit", "verify", "--url", url, "--json"]) == 1
    assert '"kind": "altered"' in capsys.readouterr().out


def test_the_cli_reads_the_key_and_the_head(
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELMUXER_AUDIT_HMAC_KEY", raising=False)
    seq, digest = _fill(sqlite_url, tmp_path, 3, hmac_key=KEY)
    monkeypatch.setenv("AUDIT_KEY", KEY)
    args = ["audit", "verify", "--url", sqlite_url]
    assert main([*args, "--hmac-key-env", "AUDIT_KEY", "--expect-head", f"{seq}:{digest}"]) == 0
    assert main(args) == 1  # no key: every hash differs
    assert "row 1 altered" in capsys.readouterr().out
    assert main([*args, "--hmac-key-env", "UNSET_AUDIT_KEY"]) == 2
    assert "UNSET_AUDIT_KEY is not set" in capsys.readouterr().err
    assert main([*args, "--hmac-key-env", "AUDIT_KEY", "--expect-head", "3:xyz"]) == 2
    assert "cannot read head" in capsys.readouterr().err
    execute(sqlite_url, "DELETE FROM audit_log WHERE seq = 3")
    head = ["--hmac-key-env", "AUDIT_KEY", "--expect-head", f"{seq}:{digest}"]
    assert main([*args, *head]) == 1
    assert "row 3 deleted" in capsys.readouterr().out


def test_the_cli_on_a_database_without_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert main(["audit", "verify", "--url", url]) == 2
    assert "modelmuxer db upgrade" in capsys.readouterr().err
    down = "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none"
    assert main(["audit", "verify", "--url", down]) == 2
    assert "secret" not in capsys.readouterr().err


def test_the_cli_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo" / "ledger.db"
    assert main(["audit", "verify", "--url", f"sqlite+aiosqlite:///{path}"]) == 2
    err = capsys.readouterr().err
    assert f"no database at {path}" in err
    assert not path.parent.exists()
