"""The ledger on SQLite, through a Muxer: every call is a row, exact, idempotent, durable."""

from __future__ import annotations

import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _ledger_support import afetch_rows, fetch_rows, make_record, sqlite_settings
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
from modelmuxer.ledger import (
    CostLedger,
    InvalidFeedback,
    LedgerSettings,
    UnknownRequest,
    data_dir,
    default_url,
)
from modelmuxer.ledger.rows import exact_cost
from modelmuxer.testing import make_card
from modelmuxer.types import Deployment, ModelCard

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O = "offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"
PROMPT = "Explain how photosynthesis turns light, water and carbon dioxide into sugar."


def _muxer(make_muxer: MakeMuxer, tmp_path: Path, models: Any = OFFLINE_MODELS, **kw: Any) -> Muxer:
    ledger = sqlite_settings(tmp_path, **kw.pop("ledger", {}))
    settings = MuxerSettings(ledger=ledger, load_entrypoints=False, **kw.pop("settings", {}))
    return make_muxer(models, settings=settings, **kw)


def test_the_ledger_is_off_unless_enabled(muxer: Muxer) -> None:
    assert muxer.ledger is None
    assert not LedgerSettings().enabled


def test_the_default_path_follows_modelmuxer_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELMUXER_HOME", str(tmp_path))
    assert data_dir() == tmp_path
    assert default_url() == f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    settings = LedgerSettings(enabled=True)
    assert settings.resolved_outbox_dir().parent == tmp_path / "outbox"
    other = LedgerSettings(enabled=True, url="postgresql+asyncpg://x@h/db")
    assert other.resolved_outbox_dir() != settings.resolved_outbox_dir()


def test_the_default_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELMUXER_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert data_dir() == tmp_path / "modelmuxer"


async def test_each_call_becomes_one_exact_row(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    muxer = _muxer(make_muxer, tmp_path)
    completion = await muxer.acomplete(
        PROMPT,
        model=MINI,
        identity={"user": "ann", "org": "acme", "project": "p1", "role": "dev"},
        tags=["beta"],
        metadata={"named_model": FOUR_O},
    )
    await muxer.aclose()
    (row,) = await afetch_rows(muxer.settings.ledger.resolved_url())
    assert (row["request_id"], row["attempt"]) == (completion.request_id, 0)
    assert (row["user"], row["org"], row["project"], row["role"]) == ("ann", "acme", "p1", "dev")
    assert row["tags"] == ["beta"]
    assert row["model"] == MINI
    assert row["outcome"] == "ok"
    assert row["prompt_tokens"] == completion.usage.prompt_tokens
    assert row["completion_tokens"] == completion.usage.completion_tokens
    card = muxer.catalog.get(MINI)
    assert isinstance(row["cost_usd"], Decimal)
    assert row["cost_usd"] == exact_cost(card, completion.usage)
    assert float(row["cost_usd"]) == pytest.approx(completion.cost_usd)
    assert row["features"] == completion.decision.features
    assert row["started_at"].tzinfo is not None
    # Counterfactuals: the strongest candidate, and the model the caller named.
    strongest = max(muxer.catalog, key=lambda c: c.quality)
    assert row["strongest_model"] == strongest.id
    assert row["cost_if_strongest_usd"] == exact_cost(strongest, completion.usage)
    assert row["named_model"] == FOUR_O
    assert row["cost_if_named_usd"] == exact_cost(muxer.catalog.get(FOUR_O), completion.usage)
    assert row["prompt"] is None  # prompts are not stored by default


def _card(model_id: str, price: float, quality: float, **offline: Any) -> ModelCard:
    card = make_card(
        model_id, input_price_per_mtok=price, output_price_per_mtok=price * 4, quality=quality
    )
    if offline:
        card = card.model_copy(update={"deployment": Deployment(extra={"offline": offline})})
    return card


async def test_cascade_steps_and_failures_are_rows(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    cards = [
        _card("offline/test/broken", 0.05, 0.5, fail="server_error"),
        _card("offline/test/cheap", 0.1, 0.6, refuse=True),
        _card("offline/test/strong", 10.0, 0.95),
    ]
    muxer = _muxer(
        make_muxer, tmp_path, cards, strategy="cascade", settings={"cascade_max_models": 3}
    )
    completion = await muxer.acomplete(PROMPT)
    muxer.close()
    rows = sorted(
        await afetch_rows(muxer.settings.ledger.resolved_url()), key=lambda r: r["attempt"]
    )
    assert [(r["model"], r["outcome"]) for r in rows] == [
        ("offline/test/broken", "error"),
        ("offline/test/cheap", "escalated"),
        ("offline/test/strong", "ok"),
    ]
    assert "simulated server error" in rows[0]["error"]
    assert rows[0]["cost_usd"] == 0
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(Decimal(str(completion.cost_usd)))
    # the counterfactual makes one call: an escalated step costs nothing there
    assert rows[1]["cost_if_strongest_usd"] == 0
    assert rows[2]["cost_if_strongest_usd"] == rows[2]["cost_usd"]


async def test_an_abandoned_stream_records_its_tokens(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    muxer = _muxer(make_muxer, tmp_path)
    stream = muxer.astream(PROMPT, model=FOUR_O)
    async for chunk in stream:
        assert chunk.text
        break
    await stream.aclose()  # type: ignore[attr-defined]
    await muxer.aclose()
    (row,) = await afetch_rows(muxer.settings.ledger.resolved_url())
    assert row["outcome"] == "cancelled"
    assert row["streamed"]
    assert row["completion_tokens"] > 0
    assert row["cost_usd"] > 0
    assert row["ttft_s"] is not None


def test_sync_calls_are_recorded_and_close_flushes(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    muxer = _muxer(make_muxer, tmp_path, ledger={"flush_interval_s": 60.0})
    ids = {muxer.complete(f"What is {i} + {i}?").request_id for i in range(25)}
    muxer.close()  # the flush interval is long: only close() can have written them
    rows = fetch_rows(muxer.settings.ledger.resolved_url())
    assert {r["request_id"] for r in rows} == ids
    assert list((tmp_path / "outbox").glob("*.jsonl")) == []  # nothing left to replay


def test_cache_hits_are_rows_with_what_they_saved(tmp_path: Path) -> None:
    hit = make_record("hit", cache="exact", cost_usd=0.0, saved_usd=0.0123)
    with CostLedger(sqlite_settings(tmp_path)) as ledger:
        ledger.modelmuxer_record(hit)
    (row,) = fetch_rows(ledger.url)
    assert row["cache"] == "exact"
    assert row["cost_usd"] == 0
    assert row["saved_usd"] == Decimal("0.0123")


def test_float_costs_without_a_catalog_are_rounded_to_a_picodollar(tmp_path: Path) -> None:
    with CostLedger(sqlite_settings(tmp_path)) as ledger:
        ledger.modelmuxer_record(make_record("r", cost_usd=0.1 + 0.2))
    (row,) = fetch_rows(ledger.url)
    assert row["cost_usd"] == Decimal("0.300000000000")
    assert row["cost_if_strongest_usd"] is None  # no catalog: unknown, not zero


def test_writes_are_idempotent(tmp_path: Path) -> None:
    record = make_record("same")
    with CostLedger(sqlite_settings(tmp_path)) as ledger:
        for _ in range(3):
            ledger.modelmuxer_record(record)
        ledger.modelmuxer_record(make_record("same", attempt=1))
        assert ledger.flush()
        ledger.modelmuxer_record(record)
    rows = fetch_rows(ledger.url)
    assert sorted((r["request_id"], r["attempt"]) for r in rows) == [("same", 0), ("same", 1)]


def test_an_outbox_left_behind_is_replayed_by_the_next_ledger(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    outbox = settings.resolved_outbox_dir()
    outbox.mkdir(parents=True)
    from modelmuxer.ledger.outbox import encode_entry

    lines = b"".join(encode_entry(make_record(f"old{i}"), None) for i in range(5))
    (outbox / "999-left.jsonl").write_bytes(lines)
    with CostLedger(settings) as ledger:
        assert ledger.flush()
    assert sorted(r["request_id"] for r in fetch_rows(settings.resolved_url())) == [
        f"old{i}" for i in range(5)
    ]
    assert not (outbox / "999-left.jsonl").exists()


def test_feedback_and_training_rows(make_muxer: MakeMuxer, tmp_path: Path) -> None:
    muxer = _muxer(make_muxer, tmp_path, ledger={"store_prompts": True})
    ledger = muxer.ledger
    assert ledger is not None
    first = muxer.complete("What is the capital of France?")
    second = muxer.complete("Write a haiku about the sea.")
    ledger.record_feedback(first.request_id, 1.0, kind="thumbs")
    ledger.record_feedback(first.request_id, 0.5, comment="ok")
    ledger.record_feedback(second.request_id, 0.0)
    rows = {r.request_id: r for r in ledger.training_rows()}
    assert rows[first.request_id].score == pytest.approx(0.75)
    assert rows[first.request_id].model == first.model
    assert rows[first.request_id].features == first.decision.features
    assert rows[first.request_id].prompt == "What is the capital of France?"
    assert rows[second.request_id].score == 0.0


async def test_feedback_errors_are_typed(tmp_path: Path) -> None:
    with CostLedger(sqlite_settings(tmp_path)) as ledger:
        ledger.modelmuxer_record(make_record("known"))
        with pytest.raises(UnknownRequest, match="nope"):
            await ledger.arecord_feedback("nope", 1.0)
        with pytest.raises(UnknownRequest):
            await ledger.arecord_feedback("known", 1.0, attempt=3)
        for bad in (1.5, -0.1, float("nan")):
            with pytest.raises(InvalidFeedback):
                await ledger.arecord_feedback("known", bad)
        await ledger.arecord_feedback("known", 1.0, attempt=0)
        (row,) = await ledger.atraining_rows()
        assert row.prompt is None  # prompts are off by default


def test_records_after_close_are_dropped_without_raising(tmp_path: Path) -> None:
    ledger = CostLedger(sqlite_settings(tmp_path))
    ledger.close()
    ledger.modelmuxer_record(make_record("late"))
    assert ledger.close()  # idempotent


def test_a_bad_url_is_a_config_error(tmp_path: Path) -> None:
    from modelmuxer.errors import ConfigError

    with pytest.raises(ConfigError, match="aiosqlite"):
        CostLedger(sqlite_settings(tmp_path, url=f"sqlite:///{tmp_path}/x.db"))


def test_records_from_many_threads_and_two_ledgers_all_arrive(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    first, second = CostLedger(settings), CostLedger(settings)  # one outbox directory, shared

    def write(ledger: CostLedger, prefix: str) -> None:
        for i in range(300):
            ledger.modelmuxer_record(make_record(f"{prefix}-{i}"))

    threads = [
        threading.Thread(target=write, args=(ledger, f"{n}"))
        for n, ledger in enumerate([first, second, first, second])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.close()
    assert second.close()
    ids = [r["request_id"] for r in fetch_rows(settings.resolved_url())]
    assert len(ids) == len(set(ids)) == 1200


def test_the_ledger_is_configured_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmuxer.config import load_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("MODELMUXER_LEDGER", f'{{"enabled": true, "url": "{url}"}}')
    settings = load_settings()
    assert settings.ledger.enabled
    assert settings.ledger.resolved_url() == url


async def test_the_ledger_reports_every_call_recorded_so_far(
    make_muxer: MakeMuxer, tmp_path: Path
) -> None:
    muxer = _muxer(make_muxer, tmp_path)
    for org in ("acme", "acme", "globex"):
        await muxer.acomplete("What is the capital of France?", identity={"org": org})
    assert muxer.ledger is not None
    report = await muxer.ledger.areport(by="org")  # nothing flushed before: it must flush
    assert {line.key: line.calls for line in report.lines} == {"acme": 2, "globex": 1}
    assert muxer.ledger.report(by="org", where={"org": "globex"}).lines[0].calls == 1
