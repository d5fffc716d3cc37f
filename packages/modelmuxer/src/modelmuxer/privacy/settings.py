"""PII redaction as configured: :class:`PrivacySettings` (the ``privacy`` field of
``MuxerSettings``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelmuxer.privacy.placeholders import DEFAULT_PLACEHOLDER, PlaceholderFormat
from modelmuxer.privacy.spans import KIND_PATTERN

__all__ = ["PiiMode", "PrivacySettings"]

PiiMode = Literal["restore", "detect"]


class PrivacySettings(BaseModel):
    """Whether and how requests are scanned for personal data and secrets.

    Off by default. With ``redact`` on and ``mode="restore"``, each distinct value found is
    replaced by a placeholder (``[EMAIL_1]``) before the request goes anywhere (cache, routing
    plugins that read text, the model, the ledger's stored prompts) and the placeholders in the
    answer are put back. ``mode="detect"`` only counts what it finds
    (``ctx.state["pii_counts"]``, for policies and the audit log) and sends the request as is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    redact: bool = Field(default=False, description="scan requests for PII (off by default)")
    mode: PiiMode = Field(
        default="restore",
        description="restore: replace values by placeholders, put them back in the answer; "
        "detect: count only, send the request unchanged",
    )
    kinds: list[str] | None = Field(
        default=None,
        description="the kinds to handle (e.g. ['email', 'credit_card']); default: every kind "
        "the registered detectors report",
    )
    placeholder: str = Field(
        default=DEFAULT_PLACEHOLDER,
        description="the placeholder template: {KIND} or {kind}, and {n}, between delimiters",
    )
    min_score: float = Field(
        default=0.5, ge=0.0, le=1.0, description="ignore spans a detector scores below this"
    )

    @field_validator("kinds")
    @classmethod
    def _kind_names(cls, kinds: list[str] | None) -> list[str] | None:
        for kind in kinds or ():
            if not KIND_PATTERN.fullmatch(kind):
                raise ValueError(f"kind {kind!r}: use lower case letters, digits and underscores")
        return kinds

    @field_validator("placeholder")
    @classmethod
    def _placeholder_format(cls, template: str) -> str:
        PlaceholderFormat(template)  # raises ValueError saying what to fix
        return template

    @property
    def active(self) -> bool:
        """Whether a muxer scans requests."""
        return self.redact
