"""Verifying the chain: :func:`verify_chain` walks the log and names the first row that breaks it.

Walking by ``seq``, with ``prev`` the last good row (the genesis before the first):

* a ``seq`` that skips numbers: the missing rows were **deleted**;
* a row whose stored hash is not the hash of its content: it was **altered**;
* an intact row that links to another row of the log than ``prev`` (nor the one before it):
  rows were **reordered** (their ``seq`` changed places);
* a row whose successor links to ``prev`` (the row before it): it was **inserted** in between;
  likewise a row that is intact but links to no row of the log (inserted, or the rows before
  it were deleted and the rest renumbered).

What the chain alone cannot show: rows removed from the *end* (pass the head you recorded
earlier as ``expect_head`` to catch that), and, without an HMAC key, a rewrite that recomputes
every hash from the altered row on (with a key, that takes the key).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from modelmuxer.audit.chain import GENESIS, body_of_row, entry_hash
from modelmuxer.audit.store import find_seq, read_rows

__all__ = ["BreakKind", "ChainBreak", "VerifyResult", "averify_chain", "verify_chain"]

BreakKind = Literal["altered", "inserted", "deleted", "reordered"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain is broken: ``kind`` of tampering at row ``seq``."""

    kind: BreakKind
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"row {self.seq} {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :func:`verify_chain`: ``ok`` when every row checked, else ``problem``.

    ``rows`` counts the rows that checked before the problem (all of them when ok);
    ``head_seq`` / ``head_hash`` are the last good row's (record them to detect a truncation
    later with ``expect_head``); ``keyed`` tells whether an HMAC key was used.
    """

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    keyed: bool
    problem: ChainBreak | None = None

    def __str__(self) -> str:
        how = "HMAC-SHA256" if self.keyed else "SHA-256"
        if self.problem is None:
            return (
                f"audit chain intact: {self.rows} rows ({how}); "
                f"head: row {self.head_seq}, hash {self.head_hash}"
            )
        checked = f"{self.rows} row{'' if self.rows == 1 else 's'} before it checked"
        return f"audit chain BROKEN: {self.problem} ({checked}, {how})"


async def _with_next(
    rows: AsyncIterator[dict[str, Any]],
) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    current = None
    async for row in rows:
        if current is not None:
            yield current, row
        current = row
    if current is not None:
        yield current, None


def _alteration_hint(row: dict[str, Any], prev_hash: str, key: bytes | None) -> str:
    """For a mismatch on the first row: whether the wrong key (or none) explains it."""
    if key is not None and entry_hash(body_of_row(row), prev_hash, None) == row["hash"]:
        return "; it verifies with plain SHA-256: the log was written without an HMAC key"
    if key is None:
        return "; if the log was written with an HMAC key, pass that key"
    return "; if every row fails, the HMAC key differs from the one the log was written with"


def _judge(
    row: dict[str, Any],
    nxt: dict[str, Any] | None,
    prev: tuple[int, str],
    before_prev: str | None,
    key: bytes | None,
    predecessor: int | None,
) -> ChainBreak | None:
    """The break at ``row``, if any. ``predecessor``: the ``seq`` of the row ``row`` links to
    (``None`` when it links to ``prev`` or to no row of the log)."""
    seq = int(row["seq"])
    prev_seq, prev_hash = prev
    valid = entry_hash(body_of_row(row), row["prev_hash"], key) == row["hash"]
    linked = row["prev_hash"] == prev_hash
    if valid and linked:
        return None
    if valid and predecessor is not None and predecessor != prev_seq - 1:
        return ChainBreak(
            "reordered",
            seq,
            f"row {seq} follows row {predecessor} in the chain, not "
            f"{f'row {prev_seq}' if prev_seq else 'the start of the log'}: rows were moved "
            "out of their order",
        )
    if nxt is not None and nxt["prev_hash"] == prev_hash and int(nxt["seq"]) == seq + 1:
        return ChainBreak(
            "inserted",
            seq,
            f"row {seq + 1} follows row {prev_seq} directly: this row was put between them",
        )
    if not linked and before_prev is not None and row["prev_hash"] == before_prev:
        return ChainBreak(
            "inserted",
            prev_seq,
            f"row {seq} follows row {prev_seq - 1} directly: row {prev_seq} was put between them",
        )
    if not valid:
        hint = _alteration_hint(row, row["prev_hash"], key) if seq == 1 else ""
        return ChainBreak("altered", seq, "its hash does not match its content" + hint)
    return ChainBreak(
        "inserted",
        seq,
        f"it does not follow row {prev_seq}: it was inserted, or rows before it were deleted "
        "and the later ones renumbered",
    )


async def averify_chain(
    engine: AsyncEngine, *, key: bytes | None = None, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole log on ``engine``; the first break, or ok.

    :param key: the HMAC key the log was written with (``None``: plain SHA-256).
    :param expect_head: a ``(seq, hash)`` recorded earlier: the log must still hold that row
        unchanged (catches rows removed from the end).
    """
    prev: tuple[int, str] = (0, GENESIS)
    before_prev: str | None = None
    checked = 0
    seen_expected = False

    def result(problem: ChainBreak | None) -> VerifyResult:
        return VerifyResult(problem is None, checked, prev[0], prev[1], key is not None, problem)

    async for row, nxt in _with_next(read_rows(engine)):
        seq = int(row["seq"])
        if seq != prev[0] + 1:
            missing = (
                f"row {prev[0] + 1}" if seq == prev[0] + 2 else f"rows {prev[0] + 1} to {seq - 1}"
            )
            return result(
                ChainBreak(
                    "deleted",
                    prev[0] + 1,
                    f"{missing} missing (the log jumps from {prev[0]} to {seq})",
                )
            )
        linked = row["prev_hash"] == prev[1]
        predecessor = None if linked else await find_seq(engine, str(row["prev_hash"]))
        problem = _judge(row, nxt, prev, before_prev, key, predecessor)
        if problem is not None:
            return result(problem)
        if expect_head is not None and seq == expect_head[0]:
            if row["hash"] != expect_head[1]:
                return result(
                    ChainBreak("altered", seq, "its hash is not the one recorded as the head")
                )
            seen_expected = True
        before_prev, prev = prev[1], (seq, str(row["hash"]))
        checked += 1
    if expect_head is not None and not seen_expected and expect_head[0] > 0:
        first = prev[0] + 1
        return result(
            ChainBreak(
                "deleted",
                first,
                f"the log ends at row {prev[0]}, but row {expect_head[0]} was recorded as the head",
            )
        )
    return result(None)


async def _verify_url(
    url: str, key: bytes | None, expect_head: tuple[int, str] | None
) -> VerifyResult:
    from modelmuxer.ledger.engine import make_engine

    engine = make_engine(url)
    try:
        return await averify_chain(engine, key=key, expect_head=expect_head)
    finally:
        await engine.dispose()


def verify_chain(
    url: str, *, key: bytes | None = None, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Sync twin of :func:`averify_chain` for a url (runs its own event loop)."""
    return asyncio.run(_verify_url(url, key, expect_head))
