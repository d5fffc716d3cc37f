"""A routing decision: which model(s), every candidate's estimates, and why."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CandidateEstimate", "Decision"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class CandidateEstimate(BaseModel):
    """One candidate as the strategy saw it.

    ``quality`` is the estimated chance of a good answer, ``cost_usd`` the expected cost of the
    call, ``latency_s`` its expected duration. An excluded candidate has ``excluded`` set to the
    reason, and its estimates may be zero.
    """

    model_config = _FROZEN
    model: str
    quality: float
    cost_usd: float
    latency_s: float
    score: float | None = None
    excluded: str | None = None


class Decision(BaseModel):
    """The outcome of routing.

    ``models`` is the ordered list of models to call: one for most strategies, cheap-to-strong for
    a cascade. ``threshold`` is the judge score an answer needs for the cascade to stop.
    """

    model_config = _FROZEN
    strategy: str
    models: list[str] = Field(min_length=1)
    candidates: list[CandidateEstimate]
    reason: str = Field(min_length=1)
    threshold: float | None = None
    features: dict[str, object] = Field(default_factory=dict)

    @property
    def model(self) -> str:
        """The first model to call (the only one, except in a cascade)."""
        return self.models[0]

    def estimate(self, model: str) -> CandidateEstimate | None:
        """The estimate for ``model``, if it was a candidate."""
        for candidate in self.candidates:
            if candidate.model == model:
                return candidate
        return None
