"""Errors of the cost ledger."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelmuxer.errors import ModelMuxerError

__all__ = ["InvalidFeedback", "LedgerError", "LedgerUnavailable", "UnknownRequest", "safe_url"]


def safe_url(url: str) -> str:
    """``url`` with any password masked, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable url>"


class LedgerError(ModelMuxerError):
    """Base class of the ledger's errors."""


class LedgerUnavailable(LedgerError):
    """The ledger's database cannot be reached (records stay in the outbox meanwhile)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"the ledger database {safe_url(url)} is unreachable: {reason}")
        self.url = safe_url(url)
        self.reason = reason


class UnknownRequest(LedgerError, KeyError):
    """Feedback names a request (or attempt) the ledger has no record of."""

    def __init__(self, request_id: str, attempt: int | None = None) -> None:
        which = request_id if attempt is None else f"{request_id} attempt {attempt}"
        super().__init__(f"the ledger has no record of request {which}")
        self.request_id = request_id
        self.attempt = attempt

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidFeedback(LedgerError, ValueError):
    """A feedback score outside [0, 1], or an empty kind."""
