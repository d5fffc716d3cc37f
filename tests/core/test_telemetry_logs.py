"""Structured logs: one record per request and per call, carrying the ledger's request ids;
JSON lines on request; events at their level."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _audit_support import audit_settings, fetch_audit
from _ledger_support import fetch_rows, sqlite_settings
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer import Muxer
from modelmuxer.config import MuxerSettings
from modelmuxer.events import emit
from modelmuxer.telemetry import JsonFormatter
from modelmuxer.telemetry.logs import CALLS_LOGGER, EVENTS_LOGGER, REQUESTS_LOGGER

MINI = "offline/openai/gpt-4o-mini"


@pytest.fixture
def restore_logging() -> Iterator[logging.Logger]:
    """The ``modelmuxer`` logger, put back as it was afterwards (handlers, level, propagate)."""
    logger = logging.getLogger("modelmuxer")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_records_carry_the_request_ids_of_the_ledger_and_the_audit_log(
    make_muxer: MakeMuxer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = sqlite_settings(tmp_path)
    settings = MuxerSettings(
        ledger=ledger,
        audit=audit_settings(ledger.resolved_url(), tmp_path),
        telemetry={"logs": True},
        load_entrypoints=False,
    )
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    caplog.set_level(logging.INFO, logger="modelmuxer")
    ok = muxer.complete("What is the capital of France?", identity={"user": "ann"})
    muxer.complete("Tell me about tides.", strategy="cascade", metadata=_refuse())
    with pytest.raises(Exception, match="simulated"):
        muxer.complete("Hi", model=MINI, metadata={"offline": {"fail": "bad_request"}})
    muxer.close()
    rows = fetch_rows(ledger.resolved_url())
    audited = fetch_audit(ledger.resolved_url())
    requests = [r for r in caplog.records if r.name == REQUESTS_LOGGER]
    calls = [r for r in caplog.records if r.name == CALLS_LOGGER]
    logged = {r.request_id for r in requests}  # type: ignore[attr-defined]
    assert len(logged) == 3
    assert logged == {row["request_id"] for row in rows}
    assert logged == {row["request_id"] for row in audited}
    assert sorted((r.request_id, r.attempt) for r in calls) == sorted(  # type: ignore[attr-defined]
        (row["request_id"], row["attempt"]) for row in rows
    )
    first = next(r for r in requests if r.request_id == ok.request_id)  # type: ignore[attr-defined]
    assert first.outcome == "ok"  # type: ignore[attr-defined]
    assert first.model == ok.model  # type: ignore[attr-defined]
    assert first.cost_usd == ok.cost_usd  # type: ignore[attr-defined]
    assert first.user == "ann"  # type: ignore[attr-defined]
    failed = [r for r in requests if r.outcome == "error"]  # type: ignore[attr-defined]
    assert [r.error_type for r in failed] == ["ProviderError"]  # type: ignore[attr-defined]
    assert any(r.outcome == "escalated" for r in calls)  # type: ignore[attr-defined]
    for record in caplog.records:
        assert "capital of France" not in record.getMessage()  # no prompt text


def _refuse() -> dict[str, object]:
    return {"offline": {"refuse": True}}


def test_json_lines_hold_every_field(
    make_muxer: MakeMuxer, restore_logging: logging.Logger
) -> None:
    settings = MuxerSettings(telemetry={"log_json": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    assert muxer.telemetry.logs is not None
    (handler,) = [h for h in restore_logging.handlers if isinstance(h.formatter, JsonFormatter)]
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    make_muxer(OFFLINE_MODELS, settings=settings)  # a second muxer adds no second handler
    assert len([h for h in restore_logging.handlers if isinstance(h.formatter, JsonFormatter)]) == 1
    completion = muxer.complete("What is 2 + 2?", model=MINI)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    call, request = by_logger[CALLS_LOGGER], by_logger[REQUESTS_LOGGER]
    assert call["request_id"] == request["request_id"] == completion.request_id
    assert call["level"] == "INFO"
    assert call["ts"].endswith("+00:00")
    assert call["input_tokens"] == completion.usage.prompt_tokens
    assert request["model"] == MINI
    assert request["outcome"] == "ok"
    assert request["cost_usd"] == pytest.approx(completion.cost_usd)
    assert completion.request_id in request["message"]


def test_enabling_logs_again_with_json_installs_the_handler(
    make_muxer: MakeMuxer, restore_logging: logging.Logger
) -> None:
    # logs on from the settings, then enable_logs(json=True): json used to be ignored
    settings = MuxerSettings(telemetry={"logs": True}, load_entrypoints=False)
    muxer = make_muxer(OFFLINE_MODELS, settings=settings)
    assert not any(isinstance(h.formatter, JsonFormatter) for h in restore_logging.handlers)
    assert muxer.telemetry.enable_logs(json=True) is muxer.telemetry.logs
    assert any(isinstance(h.formatter, JsonFormatter) for h in restore_logging.handlers)
    assert muxer.telemetry.settings.log_json


def test_events_are_logged_at_their_level(muxer: Muxer, caplog: pytest.LogCaptureFixture) -> None:
    muxer.telemetry.enable_logs()
    caplog.set_level(logging.INFO, logger="modelmuxer")
    emit(muxer.plugins, "breaker.opened", model=MINI, failures=5)
    emit(muxer.plugins, "retry", model=MINI, attempt=1, delay_s=0.5, error="ProviderError")
    opened, retry = [r for r in caplog.records if r.name == EVENTS_LOGGER]
    assert (opened.levelno, opened.event, opened.data) == (  # type: ignore[attr-defined]
        logging.WARNING,
        "breaker.opened",
        {"model": MINI, "failures": 5},
    )
    assert retry.levelno == logging.INFO
    assert retry.request_id is None  # type: ignore[attr-defined]


def test_nothing_is_logged_below_the_loggers_level(
    muxer: Muxer, caplog: pytest.LogCaptureFixture
) -> None:
    muxer.telemetry.enable_logs()
    caplog.set_level(logging.WARNING, logger="modelmuxer")
    muxer.complete("Hello!", model=MINI)
    assert [r for r in caplog.records if r.name.startswith("modelmuxer.")] == []


def test_the_formatter_renders_exceptions_and_odd_values() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    record.when = Path("/tmp")
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "failed here"
    assert out["when"] == "/tmp"
    assert "ValueError: boom" in out["exception"]
