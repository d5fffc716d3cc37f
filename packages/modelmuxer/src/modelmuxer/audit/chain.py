"""The hash chain: an entry's canonical form and its hash.

An entry's *body* holds its content as JSON values (the time as ISO 8601 UTC with microseconds
and a ``Z``, the cost as a decimal string with 12 places). Its hash is SHA-256 (or, with a key,
HMAC-SHA256) of the canonical JSON of the body plus ``prev_hash``: keys sorted, no spaces,
UTF-8. ``seq`` is not hashed: it is the row's position, checked for gaps by
:mod:`modelmuxer.audit.verify`, while the order itself is fixed by the ``prev_hash`` links.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from modelmuxer.ledger.models import to_usd

__all__ = [
    "CONTENT",
    "GENESIS",
    "Body",
    "body_of_row",
    "canonical",
    "entry_hash",
    "format_time",
    "format_usd",
    "row_of_body",
]

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
#: The columns an entry's hash covers (with ``prev_hash``): all but ``seq`` and ``hash``.
CONTENT = (
    "request_id",
    "at",
    "user",
    "org",
    "project",
    "role",
    "tags",
    "strategy",
    "models",
    "model",
    "reason",
    "cache",
    "cost_usd",
    "outcome",
    "error_type",
    "pii_counts",
    "policies",
    "prompt",
)
#: An entry's content as JSON values, keyed by :data:`CONTENT`.
Body = dict[str, Any]


def format_time(moment: datetime) -> str:
    """``moment`` in UTC, ISO 8601 with microseconds: ``2026-03-01T12:00:00.000000Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the database keeps UTC without a zone
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_usd(amount: Decimal | float) -> str:
    """``amount`` rounded to 1e-12 USD (as the ledger's money columns keep it), as text."""
    return format(to_usd(amount), "f")


def canonical(body: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an entry's hash is computed over."""
    document = {name: body[name] for name in CONTENT}
    document["prev_hash"] = prev_hash
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def entry_hash(body: Mapping[str, Any], prev_hash: str, key: bytes | None) -> str:
    """The entry's hash: HMAC-SHA256 under ``key``, or SHA-256 without one (hex)."""
    data = canonical(body, prev_hash)
    if key is not None:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def row_of_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of ``body`` (the time and the cost back to their column types)."""
    row = dict(body)
    row["at"] = datetime.fromisoformat(body["at"])
    row["cost_usd"] = Decimal(body["cost_usd"])
    return row


def body_of_row(row: Mapping[str, Any]) -> Body:
    """The body of a row read from the database (the inverse of :func:`row_of_body`)."""
    body = {name: row[name] for name in CONTENT}
    body["at"] = format_time(row["at"])
    body["cost_usd"] = format_usd(row["cost_usd"])
    return body
