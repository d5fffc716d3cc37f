"""Structured logs with the standard :mod:`logging` module, JSON optional.

:class:`LogPlugin` writes one record per finished request (logger ``modelmuxer.requests``), per
model call or cache hit (``modelmuxer.calls``), both at INFO, and per operational event
(``modelmuxer.events``: WARNING for a breaker opening, a fallback or unreachable shared state,
INFO otherwise). The fields are ``extra`` attributes of the record (``record.request_id``,
``record.model``...): the ``request_id`` is the one the ledger and the audit log store.

:class:`JsonFormatter` renders any record as one JSON object per line, those fields included.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import CallRecord, Completion

if TYPE_CHECKING:
    from modelmuxer.context import RequestContext

__all__ = ["CALLS_LOGGER", "EVENTS_LOGGER", "REQUESTS_LOGGER", "JsonFormatter", "LogPlugin"]

REQUESTS_LOGGER: Final = "modelmuxer.requests"
CALLS_LOGGER: Final = "modelmuxer.calls"
EVENTS_LOGGER: Final = "modelmuxer.events"
_WARNINGS = frozenset({"breaker.opened", "fallback", "shared_state.unavailable"})
#: attributes every LogRecord has: anything else on a record came through ``extra``
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)))
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    every ``extra`` field, and ``exception`` when there is one. Values JSON cannot hold are
    written as strings."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def install_json_handler(stream: Any = None) -> logging.Handler:
    """Write the ``modelmuxer`` logger's records as JSON lines to ``stream`` (stderr).

    Idempotent: a second call returns the handler the first installed. The logger stops
    propagating to the root logger (no record is written twice) and logs from INFO unless its
    level was set.
    """
    logger = logging.getLogger("modelmuxer")
    for handler in logger.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return handler
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return handler


class LogPlugin:
    """Logs requests, model calls and operational events; a pluggy plugin.

    Nothing is formatted unless the logger is enabled for the record's level. ``json`` also
    installs a JSON handler on the ``modelmuxer`` logger (:func:`install_json_handler`).
    """

    def __init__(self, *, json: bool = False) -> None:
        self._requests = logging.getLogger(REQUESTS_LOGGER)
        self._calls = logging.getLogger(CALLS_LOGGER)
        self._events = logging.getLogger(EVENTS_LOGGER)
        if json:
            install_json_handler()

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """One record per model call or cache hit."""
        if not self._calls.isEnabledFor(logging.INFO):
            return
        usage = record.usage
        fields = {
            "request_id": record.request_id,
            "attempt": record.attempt,
            "model": record.model,
            "provider": record.provider,
            "strategy": record.strategy,
            "outcome": record.outcome,
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "cost_usd": record.cost_usd,
            "latency_s": round(record.latency_s, 6),
            "ttft_s": record.ttft_s,
            "cache": record.cache,
            "saved_usd": record.saved_usd,
            "error": record.error,
        }
        self._calls.info(
            "call %s#%d %s %s: %d+%d tokens, $%.6f, %.3fs",
            record.request_id,
            record.attempt,
            record.model,
            record.outcome,
            usage.prompt_tokens,
            usage.completion_tokens,
            record.cost_usd,
            record.latency_s,
            extra=fields,
        )

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        """One record per request, with its outcome, answering model, cost and duration."""
        if not self._requests.isEnabledFor(logging.INFO):
            return
        request = ctx.request
        identity = request.identity
        latency = time.perf_counter() - ctx.started_perf
        fields: dict[str, Any] = {
            "request_id": request.request_id,
            "strategy": ctx.strategy,
            "stream": ctx.stream,
            "cache": ctx.cache,
            "user": identity.user,
            "org": identity.org,
            "project": identity.project,
            "latency_s": round(latency, 6),
        }
        if error is not None:
            cancelled = isinstance(error, asyncio.CancelledError | GeneratorExit)
            fields["outcome"] = "cancelled" if cancelled else "error"
            fields["error_type"] = type(error).__name__
            self._requests.info(
                "request %s %s: %s",
                request.request_id,
                fields["outcome"],
                fields["error_type"],
                extra=fields,
            )
            return
        fields["outcome"] = "ok"
        if completion is not None:
            fields.update(
                model=completion.model,
                provider=completion.provider,
                attempts=len(completion.attempts),
                cost_usd=completion.cost_usd,
                saved_usd=completion.saved_usd,
                decision=completion.decision.reason,
            )
        self._requests.info(
            "request %s ok: %s, $%.6f, %.3fs",
            request.request_id,
            fields.get("model", "none"),
            fields.get("cost_usd", 0.0),
            latency,
            extra=fields,
        )

    @hookimpl
    def modelmuxer_event(
        self, name: str, ctx: RequestContext | None, data: Mapping[str, Any]
    ) -> None:
        """One record per operational event, its data under ``data``."""
        level = logging.WARNING if name in _WARNINGS else logging.INFO
        if not self._events.isEnabledFor(level):
            return
        request_id = None if ctx is None else ctx.request.request_id
        self._events.log(
            level,
            "event %s %s",
            name,
            " ".join(f"{k}={v}" for k, v in data.items()),
            extra={"event": name, "request_id": request_id, "data": dict(data)},
        )
