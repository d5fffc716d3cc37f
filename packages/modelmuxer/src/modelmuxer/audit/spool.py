"""The spool: entries that had not reached the database when an audit log closed.

Each closing that leaves entries behind writes one JSON-lines file (written under a temporary
name, flushed to disk, then renamed, so a file is whole or absent). The next audit log on the
same database locks each file (``flock``: two processes never replay the same one), appends its
entries, and deletes it. POSIX only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from modelmuxer.audit.chain import CONTENT, Body

__all__ = ["Spool", "SpoolFile"]

_log = logging.getLogger("modelmuxer.audit")


@dataclass(frozen=True, slots=True)
class SpoolFile:
    """A spool file this process has locked, with its entries."""

    path: Path
    fd: int
    bodies: list[Body]


class Spool:
    """The spool files in ``directory`` (created only when something is spooled)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, bodies: list[Body]) -> Path:
        """Keep ``bodies`` in a new file; its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex}.jsonl"
        tmp = self.directory / f".{name}.tmp"
        data = "".join(json.dumps(b, ensure_ascii=False) + "\n" for b in bodies).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        path = self.directory / name
        os.rename(tmp, path)
        return path

    def adopt(self) -> list[SpoolFile]:
        """Lock and read the files no other process holds, oldest first."""
        if not self.directory.is_dir():
            return []
        adopted = []
        files = sorted(self.directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # another process replayed it meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if not path.exists():  # replayed and deleted between our open and our lock
                os.close(fd)
                continue
            adopted.append(SpoolFile(path, fd, self._read(path)))
        return adopted

    @staticmethod
    def _read(path: Path) -> list[Body]:
        bodies: list[Body] = []
        bad = 0
        for line in path.read_bytes().splitlines():
            try:
                body = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(body, dict) and set(body) == set(CONTENT):
                bodies.append(body)
            else:
                bad += 1
        if bad:
            _log.warning("audit spool %s: skipped %d unreadable line(s)", path, bad)
        return bodies

    @staticmethod
    def done(spooled: SpoolFile) -> None:
        """The file's entries are in the database: delete it and release it."""
        try:
            spooled.path.unlink(missing_ok=True)
        finally:
            os.close(spooled.fd)

    @staticmethod
    def release(spooled: SpoolFile) -> None:
        """Keep the file for a later replay; release the lock."""
        os.close(spooled.fd)
