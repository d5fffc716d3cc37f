"""The durable outbox: every record is appended to a local file before the answer is returned.

Records go to append-only *segment* files (JSON lines) in one directory per database. Each
appending is one ``os.write`` on an ``O_APPEND`` descriptor: once it returns, the kernel has the
bytes, so a process killed right after loses nothing (a machine crash can lose what the page
cache had not written out yet). The writer seals the current segment before each batch it
inserts and deletes a sealed segment once the database has its rows.

A live ledger holds an exclusive ``flock`` on each of its segments; a segment nobody locks was
left by a process that died (or a ledger that closed while its database was down), and the next
ledger on the directory adopts it and replays it. Rows are idempotent on
``(request_id, attempt)``, so a replay of rows that did arrive is harmless. POSIX only (``fcntl``).

With an :class:`~modelmuxer.crypto.Encryptor` each line is encrypted on its own (a torn last
line costs that line only). Replay decrypts; lines written in clear (before encryption was
turned on) are replayed as they are. A line that does not decrypt (its key is no longer in
``encryption.keys``, or it was altered) is never dropped: it is kept, as it was, in
``quarantine/<segment name>`` with an error in the log, and replayed once moved back into the
outbox directory with the right key configured.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from modelmuxer.crypto import Encryptor, reveal
from modelmuxer.errors import DecryptionError
from modelmuxer.types import CallRecord

__all__ = ["QUARANTINE", "Entry", "Outbox", "Segment", "encode_entry", "read_segment"]

_log = logging.getLogger("modelmuxer.ledger")

#: What the writer inserts: a record and, when prompts are stored, its prompt text.
Entry = tuple[CallRecord, str | None]
#: The subdirectory of the outbox where lines that do not decrypt are kept.
QUARANTINE = "quarantine"


def encode_entry(
    record: CallRecord, prompt: str | None, encryptor: Encryptor | None = None
) -> bytes:
    """One outbox line: ``[<record>, <prompt or null>]``, encrypted when ``encryptor`` is set."""
    prompt_json = b"null" if prompt is None else json.dumps(prompt).encode()
    line = b"[" + record.__pydantic_serializer__.to_json(record) + b"," + prompt_json + b"]"
    return (line if encryptor is None else encryptor.encrypt(line)) + b"\n"


def read_segment(path: Path, encryptor: Encryptor | None = None) -> list[Entry]:
    """The entries of a segment file; a torn or corrupt line is skipped with a warning, a line
    that does not decrypt is quarantined (see the module's documentation)."""
    entries: list[Entry] = []
    bad = 0
    locked: list[bytes] = []
    problems: dict[str, DecryptionError] = {}
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                data = reveal(line.rstrip(b"\n"), encryptor, what="outbox line")
            except DecryptionError as exc:
                locked.append(line if line.endswith(b"\n") else line + b"\n")
                problems.setdefault(exc.reason, exc)
                continue
            try:
                raw, prompt = json.loads(data)
                entries.append((CallRecord.model_validate(raw), prompt))
            except (ValueError, TypeError):
                bad += 1
    if bad:
        _log.warning("outbox segment %s: skipped %d unreadable line(s)", path, bad)
    if locked:
        kept = _quarantine(path, locked)
        _log.error(
            "outbox segment %s: %d record(s) not replayed and kept in %s: %s. Once the key "
            "is back in encryption.keys, move that file into %s to replay them",
            path.name,
            len(locked),
            kept,
            "; ".join(str(problem) for problem in problems.values()),
            path.parent,
        )
    return entries


def _quarantine(path: Path, lines: list[bytes]) -> Path:
    """Write ``lines`` (as read) to ``quarantine/<segment name>``, replacing an earlier copy:
    a segment read again (the database was down) quarantines the same lines, not twice."""
    directory = path.parent / QUARANTINE
    directory.mkdir(exist_ok=True)
    target = directory / path.name
    tmp = directory / f".{path.name}.tmp"
    with tmp.open("wb") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


@dataclass(slots=True, eq=False)
class Segment:
    """One segment file, locked by this process while it is open."""

    path: Path
    fd: int
    #: the entries appended, while all of them are still in memory; ``None``: read the file
    entries: list[Entry] | None = field(default_factory=list)
    #: decrypts the file's lines when it is read back
    encryptor: Encryptor | None = None

    def load(self) -> list[Entry]:
        if self.entries is not None:
            return self.entries
        return read_segment(self.path, self.encryptor)

    def discard(self) -> None:
        """Delete the file (its rows are in the database) and release it."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)

    def release(self) -> None:
        """Keep the file for a later replay; release the lock."""
        os.close(self.fd)


class Outbox:
    """Append-only segments in ``directory``; :meth:`append` is the hot path. ``encryptor``:
    lines are encrypted (:meth:`encode`) and decrypted when segments are read back."""

    def __init__(self, directory: Path, encryptor: Encryptor | None = None) -> None:
        self.directory = directory
        self.encryptor = encryptor
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._current = self._new_segment()
        self._closed = False

    def _new_segment(self) -> Segment:
        name = f"{os.getpid()}-{uuid.uuid4().hex}.jsonl"
        # Created under a name the adopters ignore, locked, then renamed: no other process can
        # see it unlocked and take it for an orphan.
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.directory / name
        os.rename(tmp, path)
        return Segment(path, fd, encryptor=self.encryptor)

    def encode(self, record: CallRecord, prompt: str | None) -> bytes:
        """The line :meth:`append` takes for this entry (encrypted when the outbox is)."""
        return encode_entry(record, prompt, self.encryptor)

    def append(self, line: bytes, entry: Entry) -> None:
        """Write ``line`` to the current segment and keep ``entry`` for the writer."""
        with self._lock:
            os.write(self._current.fd, line)
            entries = self._current.entries
            if entries is not None:
                entries.append(entry)

    def pending(self) -> int:
        """How many entries the current segment holds in memory."""
        entries = self._current.entries
        return 0 if entries is None else len(entries)

    def seal(self) -> Segment | None:
        """Close the current segment to appends and start a new one (``None`` if it is empty)."""
        current = self._current
        if self._closed or (current.entries is not None and not current.entries):
            return None  # an append racing this check is sealed next time
        fresh = self._new_segment()  # outside the lock: appends never wait for a file to open
        with self._lock:
            sealed, self._current = self._current, fresh
        return sealed

    def spill(self) -> None:
        """Forget the current segment's entries in memory (the database is down: bound the
        memory); they will be read back from the file."""
        with self._lock:
            self._current.entries = None

    def adopt_orphans(self) -> list[Segment]:
        """Lock and return the segments no live ledger holds (left by a dead process)."""
        adopted: list[Segment] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            if path == self._current.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # its owner just flushed it
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # a live ledger owns it
                continue
            adopted.append(Segment(path, fd, entries=None, encryptor=self.encryptor))
        return adopted

    def close(self) -> Segment | None:
        """Seal for good: the last segment, or ``None`` when it was empty (then deleted)."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            current = self._current
        if current.entries is not None and not current.entries:
            current.discard()
            return None
        return current
