"""Request ids: unique within a process, across threads and across forked workers."""

from __future__ import annotations

import multiprocessing
import re
import sys
import threading

import pytest

from modelmuxer.types import Request
from modelmuxer.types.request import new_request_id

_HEX32 = re.compile(r"[0-9a-f]{32}")


def _ids(n: int) -> list[str]:
    return [
        Request.model_validate({"messages": [{"role": "user", "content": "hi"}]}).request_id
        for _ in range(n)
    ]


def test_requests_get_distinct_32_hex_digit_ids() -> None:
    ids = _ids(1000)
    assert len(set(ids)) == len(ids)
    assert all(_HEX32.fullmatch(i) for i in ids)


def test_ids_stay_distinct_across_threads() -> None:
    found: list[list[str]] = []

    def draw() -> None:
        found.append([new_request_id() for _ in range(5000)])

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in found for i in ids]
    assert len(set(every)) == len(every) == 20000


def _child_ids(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_request_id() for _ in range(100)])


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    new_request_id()  # the parent has drawn ids before forking, like a preloaded server
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    workers = [context.Process(target=_child_ids, args=(queue,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    children = [queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    parent = [new_request_id() for _ in range(100)]
    every = parent + children[0] + children[1]
    assert len(set(every)) == len(every)
    assert len({ids[0][:16] for ids in (parent, *children)}) == 3  # a prefix per process
