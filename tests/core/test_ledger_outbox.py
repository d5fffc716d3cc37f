"""The durable outbox: appends reach the file at once, segments are sealed, orphans adopted."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from _ledger_support import make_record

from modelmuxer.ledger.outbox import Outbox, encode_entry, read_segment


def _append(outbox: Outbox, request_id: str) -> None:
    record = make_record(request_id)
    outbox.append(encode_entry(record, None), (record, None))


def test_an_append_is_in_the_file_before_it_returns(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    _append(outbox, "r1")
    (segment,) = tmp_path.glob("*.jsonl")
    assert [record.request_id for record, _ in read_segment(segment)] == ["r1"]
    assert outbox.pending() == 1


def test_prompts_round_trip_through_the_file(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    record = make_record("r1")
    outbox.append(encode_entry(record, 'say "hi"\n'), (record, 'say "hi"\n'))
    (segment,) = tmp_path.glob("*.jsonl")
    ((read, prompt),) = read_segment(segment)
    assert read == record
    assert prompt == 'say "hi"\n'


def test_sealing_starts_a_new_segment_and_keeps_the_entries(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert outbox.seal() is None  # nothing to seal
    _append(outbox, "r1")
    sealed = outbox.seal()
    assert sealed is not None
    assert [r.request_id for r, _ in sealed.load()] == ["r1"]
    _append(outbox, "r2")
    assert outbox.pending() == 1
    sealed.discard()
    assert not sealed.path.exists()
    assert len(list(tmp_path.glob("*.jsonl"))) == 1


def test_spilled_entries_are_read_back_from_the_file(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    _append(outbox, "r1")
    outbox.spill()
    _append(outbox, "r2")
    sealed = outbox.seal()
    assert sealed is not None
    assert sealed.entries is None
    assert [r.request_id for r, _ in sealed.load()] == ["r1", "r2"]


def test_a_live_outbox_is_not_adopted_a_dead_one_is(tmp_path: Path) -> None:
    live = Outbox(tmp_path)
    _append(live, "live")
    other = Outbox(tmp_path)
    assert other.adopt_orphans() == []  # the live one holds its lock
    # A process that died leaves an unlocked segment behind.
    orphan = tmp_path / "12345-dead.jsonl"
    orphan.write_bytes(encode_entry(make_record("dead"), None))
    (adopted,) = other.adopt_orphans()
    assert adopted.path == orphan
    assert [r.request_id for r, _ in adopted.load()] == ["dead"]
    # Adopted: locked by ``other`` now, so a third outbox leaves it alone.
    assert Outbox(tmp_path).adopt_orphans() == []
    adopted.discard()
    assert not orphan.exists()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    segment = tmp_path / "1-torn.jsonl"
    good = encode_entry(make_record("ok"), None)
    segment.write_bytes(good + good[: len(good) // 2])
    assert [r.request_id for r, _ in read_segment(segment)] == ["ok"]


def test_segments_are_created_locked(tmp_path: Path) -> None:
    Outbox(tmp_path)
    (path,) = tmp_path.glob("*.jsonl")
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = False
        except BlockingIOError:
            locked = True
    finally:
        os.close(fd)
    assert locked


def test_closing_an_empty_outbox_leaves_no_file(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert outbox.close() is None
    assert list(tmp_path.iterdir()) == []
