"""Helpers for the LiteLLM adapter tests (imported by name, not through conftest)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from modelmuxer import hookimpl
from modelmuxer.types import CallRecord
from modelmuxer_litellm import ModelMuxerCallback

__all__ = [
    "CHEAP",
    "EASY",
    "HARD",
    "STRONG",
    "MakeRouter",
    "RecordSink",
    "deployment",
    "flush_litellm_logging",
    "stop_litellm_logging",
    "wait_for",
    "wait_for_records",
]

_T = TypeVar("_T")

MakeRouter = Callable[..., tuple[Any, ModelMuxerCallback]]

CHEAP = "openai/gpt-4o-mini"
STRONG = "openai/gpt-4o"
EASY = [{"role": "user", "content": "hi"}]
HARD = [
    {
        "role": "user",
        "content": "Prove rigorously that there are infinitely many primes, then derive the "
        "error term of the prime number theorem and write a Python function that checks it.",
    }
]


def deployment(
    ident: str, group: str, model: str = CHEAP, answer: str | None = None, **info: Any
) -> dict[str, Any]:
    """A ``mock_response`` deployment answering ``answer`` (default: ``"from <ident>"``)."""
    params: dict[str, Any] = {"model": model, "mock_response": answer or f"from {ident}"}
    for key in ("input_cost_per_token", "output_cost_per_token", "mock_tool_calls"):
        if key in info:
            params[key] = info.pop(key)
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident, **info}}


class RecordSink:
    """Collects ``modelmuxer_record`` broadcasts (from LiteLLM's logging threads too)."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        with self._lock:
            self.records.append(record)


async def flush_litellm_logging() -> None:
    """Run LiteLLM's queued logging callbacks (it logs after returning the answer)."""
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await asyncio.sleep(0)
    await GLOBAL_LOGGING_WORKER.flush()


async def stop_litellm_logging() -> None:
    """Flush LiteLLM's logging worker and end its tasks on the running loop.

    The worker is one task that moves to whichever loop logged last, leaving the previous task
    pending on the loop it left; pytest closes each test's loop, and a pending task on a closed
    loop fails the run. So every worker task of this loop is cancelled, not only the current one.
    """
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await flush_litellm_logging()
    await GLOBAL_LOGGING_WORKER.stop()
    current = asyncio.current_task()
    workers = [
        task
        for task in asyncio.all_tasks()
        if task is not current and "LoggingWorker" in getattr(task.get_coro(), "__qualname__", "")
    ]
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)


async def wait_for(items: list[_T], count: int, what: str, rounds: int = 200) -> list[_T]:
    """``items`` (a list LiteLLM's logging fills: records, request ends) once it holds
    ``count``; fails when they do not arrive."""
    for _ in range(rounds):
        await flush_litellm_logging()
        if len(items) >= count:
            await asyncio.sleep(0.05)  # let a stray extra one arrive, so counts are exact
            await flush_litellm_logging()
            return list(items)
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} {what}, got {len(items)}: {items}")


async def wait_for_records(sink: RecordSink, count: int, rounds: int = 200) -> list[CallRecord]:
    """The sink's records once there are ``count``; fails when they do not arrive."""
    return await wait_for(sink.records, count, "records", rounds)
